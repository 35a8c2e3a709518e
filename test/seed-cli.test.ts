import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createTestDatabase, type TestDatabase } from '@historical-sync/db/testing';
import { isAlive } from '@historical-sync/local-stack';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { envWithout, ROOT, runScript } from './helpers';
import { type RunningStack, startStack } from './npm-start';

const execFileAsync = promisify(execFile);

describe('npm run seed', () => {
  let test: TestDatabase;
  beforeAll(async () => {
    test = await createTestDatabase('seed_cli', { migrate: false });
  });
  afterAll(async () => {
    await test.destroy();
  });

  it('migrates, seeds exactly the counts asked for, and prints the tenant id as the last line', async () => {
    const env = { ...process.env, DATABASE_URL: test.url };
    const args = ['--orgs', '4', '--memberships', '9', '--credits', '3', '--app', 'crm'];
    const seed = runScript('seed', [...args, '--tenant', 'cli', '--seed', '7'], env);
    expect((await seed.exit()).code).toBe(0);
    const lastLine = seed.output().trim().split('\n').at(-1) as string;
    const result = JSON.parse(lastLine);
    expect(result).toMatchObject({
      tenantName: 'cli',
      organizations: 4,
      memberships: 9,
      creditAllocations: 3,
    });

    const memberships = await test.db
      .selectFrom('organization_memberships')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('tenant_id', '=', result.tenantId)
      .executeTakeFirstOrThrow();
    expect(memberships.n).toBe(9);
  });

  it('exits non-zero with a message naming a bad flag', async () => {
    const env = { ...process.env, DATABASE_URL: test.url };
    const seed = runScript('seed', ['--orgs', 'many'], env);
    expect((await seed.exit()).code).toBe(1);
    expect(seed.output()).toMatch(/--orgs: /);
  });
});

describe('npm run seed and db:migrate beside npm start', () => {
  let stateDir: string;
  let test: TestDatabase;
  let crm: TestDatabase;
  let stack: RunningStack | undefined;
  beforeAll(async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'seed-beside-start-'));
    [test, crm] = await Promise.all([
      createTestDatabase('seed_beside_start', { migrate: false }),
      createTestDatabase('seed_beside_start_crm', { migrate: false }),
    ]);
  });
  afterAll(async () => {
    if (stack?.run.npm.pid && stack.run.npm.exitCode === null) {
      process.kill(-stack.run.npm.pid, 'SIGTERM');
      await stack.run.exited;
    }
    await Promise.all([test.destroy(), crm.destroy()]);
    await rm(stateDir, { recursive: true, force: true });
  });

  it('seed and db:migrate of the same folder use the running npm start, even on a server it was given, and say so; hsync finds its API', async () => {
    // npm start on a Postgres given by DATABASE_URL: a seed that only looked in the data folder
    // would start a Postgres of its own there and seed a database nobody reads.
    stack = await startStack({
      ...envWithout('REDIS_URL', 'PORT', 'HSYNC_API_URL', 'HSYNC_API_KEY', 'ADMIN_API_KEY'),
      DATABASE_URL: test.url,
      CRM_DATABASE_URL: crm.url,
      LOCAL_STATE_DIR: stateDir,
    });
    const env = { ...envWithout('DATABASE_URL', 'REDIS_URL'), LOCAL_STATE_DIR: stateDir };

    const seed = runScript(
      'seed',
      ['--tenant', 'beside', '--orgs', '2', '--memberships', '3'],
      env,
    );
    expect((await seed.exit()).code).toBe(0);
    expect(seed.output()).toContain(
      `seed: using Postgres ${stack.databaseUrl} (the npm start running in this folder, pid ${stack.supervisorPid})`,
    );
    const { tenantId } = JSON.parse(seed.output().trim().split('\n').at(-1) as string);
    expect(existsSync(join(stateDir, 'dev', 'postgres')), 'no Postgres of its own').toBe(false);

    // The running API answers for the tenant the seed printed, and hsync finds that API itself.
    const status = await fetch(
      `${stack.apiUrl}/admin/organizations/${tenantId}/applications/crm/sync-status`,
      { headers: { authorization: 'Bearer dev-admin-key' } },
    );
    expect(status.status).toBe(200);
    const found = await execFileAsync('npx', ['hsync', 'tenants', '--search', 'beside'], {
      cwd: join(ROOT, 'apps'),
      env: {
        ...envWithout('HSYNC_API_URL', 'HSYNC_API_KEY', 'ADMIN_API_KEY'),
        LOCAL_STATE_DIR: stateDir,
      },
    });
    expect(found.stdout).toContain(`beside (${tenantId})`);

    const migrate = runScript('db-migrate', [], env);
    expect((await migrate.exit()).code).toBe(0);
    expect(migrate.output()).toContain(
      `db:migrate: using Postgres ${stack.databaseUrl} (the npm start running in this folder, pid ${stack.supervisorPid})`,
    );
    expect(migrate.output()).toContain('already up to date');

    // Stopped, npm start withdraws its record: the next seed starts the folder's own Postgres.
    stack.run.npm.kill('SIGTERM');
    await stack.run.exited;
    expect(existsSync(join(stateDir, 'dev', 'running-stack.json'))).toBe(false);
  });

  it('with no npm start running, seed says which Postgres it started, and stops it', async () => {
    const env = { ...envWithout('DATABASE_URL', 'REDIS_URL'), LOCAL_STATE_DIR: stateDir };
    const seed = runScript('seed', ['--tenant', 'alone', '--orgs', '1', '--memberships', '1'], env);
    expect((await seed.exit()).code).toBe(0);
    const [, url = '', pid = ''] =
      seed
        .output()
        .match(
          /seed: using Postgres (postgres:\S+) \(started here, pid (\d+), data in (\S+); stopped when seed ends\)/,
        ) ?? [];
    expect(url, seed.output()).toMatch(/^postgres:\/\/\S+@127\.0\.0\.1:\d+\/historical_sync$/);
    expect(seed.output()).toContain(`data in ${join(stateDir, 'dev')}`);
    await expect.poll(() => isAlive(Number(pid)), { timeout: 30_000, interval: 200 }).toBe(false);
  });
});
