import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDb } from '@historical-sync/db';
import { ping } from '@historical-sync/local-stack';
import { sql } from 'kysely';
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
    const tenantId = (first.output().match(/Demo tenant "demo" created: ([0-9a-f-]{36})/) ?? [])[1];
    expect(tenantId).toBeDefined();
    // The apps are up: the API answers, and the worker completes the demo tenant's crm backfill.
    const apiUrl = (await first.waitFor(/API\s+(http:\S+)/))[1] as string;
    expect((await fetch(`${apiUrl}/health`)).status).toBe(200);
    const status = await fetch(
      `${apiUrl}/admin/organizations/${tenantId}/applications/crm/sync-status`,
      { headers: { authorization: 'Bearer dev-admin-key' } },
    );
    expect(status.status).toBe(200);
    expect(await status.json()).toMatchObject({
      isEnabled: false,
      counts: {
        activeCreditAllocations: 1,
        organizations: 5,
        memberships: 10,
        activeMemberships: 10,
      },
    });
    const headers = { authorization: 'Bearer dev-admin-key', 'content-type': 'application/json' };
    const toggle = await fetch(
      `${apiUrl}/admin/organizations/${tenantId}/applications/crm/toggle`,
      {
        method: 'POST',
        headers,
        body: JSON.stringify({ isEnabled: true }),
      },
    );
    const { runId } = (await toggle.json()) as { runId: string };
    await expect
      .poll(
        async () => {
          const run = await fetch(`${apiUrl}/admin/organizations/${tenantId}/sync-runs/${runId}`, {
            headers,
          });
          return ((await run.json()) as { status: string; published: number }).published;
        },
        { timeout: 30_000, interval: 200 },
      )
      .toBe(16);
    // The CRM consumer projects the demo tenant into its own database.
    const crmUrl = new URL(databaseUrl);
    crmUrl.pathname = '/historical_sync_crm';
    const crm = createDb({ connectionString: crmUrl.toString(), maxConnections: 1 });
    await expect
      .poll(
        async () => {
          const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM crm_memberships`
            .execute(crm)
            .catch(() => ({ rows: [{ n: -1 }] }));
          return rows[0]?.n;
        },
        { timeout: 30_000, interval: 200 },
      )
      .toBe(10);
    await crm.destroy();

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
