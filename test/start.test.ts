import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDb } from '@historical-sync/db';
import { ping } from '@historical-sync/local-stack';
import { afterAll, describe, expect, it } from 'vitest';
import { envWithout, runScript } from './helpers';

describe('npm start', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
  });

  it('starts its own Postgres and Redis, seeds a demo tenant once, and reuses data on a second run', async () => {
    const stateDir = await mkdtemp(join(tmpdir(), 'start-test-'));
    dirs.push(stateDir);
    const env = { ...envWithout('DATABASE_URL', 'REDIS_URL'), LOCAL_STATE_DIR: stateDir };

    const first = runScript('start', [], env);
    await first.waitFor(/Press Ctrl-C to stop/);
    const databaseUrl = (await first.waitFor(/Postgres\s+(\S+) \(started here/))[1] as string;
    const redisUrl = (await first.waitFor(/Redis\s+(\S+) \(started here/))[1] as string;
    expect(first.output()).toMatch(/Demo tenant "demo" created: [0-9a-f-]{36}/);

    const db = createDb({ connectionString: databaseUrl, maxConnections: 1 });
    const counts = async () => ({
      tenants: (
        await db
          .selectFrom('tenants')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
      organizations: (
        await db
          .selectFrom('entities')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
      memberships: (
        await db
          .selectFrom('organization_memberships')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
      credits: (
        await db
          .selectFrom('credit_allocations')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
    });
    expect(await counts()).toEqual({ tenants: 1, organizations: 5, memberships: 10, credits: 1 });
    await db.destroy();

    first.child.kill('SIGTERM');
    expect(await first.exit()).toEqual({ code: 0, signal: null });
    // Nothing left running: both servers are gone.
    expect(await ping(Number(new URL(redisUrl).port))).toBe(false);

    const second = runScript('start', [], env);
    await second.waitFor(/Press Ctrl-C to stop/);
    expect(second.output()).toMatch(/reusing its data/);
    const secondUrl = (await second.waitFor(/Postgres\s+(\S+) \(started here/))[1] as string;
    const again = createDb({ connectionString: secondUrl, maxConnections: 1 });
    const tenants = await again.selectFrom('tenants').select('name').execute();
    expect(tenants).toEqual([{ name: 'demo' }]);
    await again.destroy();

    second.child.kill('SIGINT');
    expect(await second.exit()).toEqual({ code: 0, signal: null });
  });
});
