/**
 * `npm start` run as a user runs it: through npm, in a process group of its own as a terminal
 * holds it. Each way of stopping it (SIGTERM, SIGINT or SIGHUP to npm, Ctrl-C to the whole
 * group, the supervisor SIGKILLed) leaves no process or port it started, and the next `npm start` finds
 * the data as it was: the same demo tenant, row counts and stream length, a valid AOF.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { HISTORICAL_EVENT_TYPE, streamName } from '@historical-sync/contracts';
import { createDb } from '@historical-sync/db';
import { Redis } from 'ioredis';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APP_ENTRIES } from '../scripts/lib/apps';
import { envWithout, ROOT } from './helpers';
import { leftovers, type NpmStart, npmStart, type RunningStack, startStack } from './npm-start';

const execFileAsync = promisify(execFile);
/** Everything is gone within this after a stop is asked for (the apps' own bound is 30 s). */
const STOP_BOUND_MS = 45_000;
const ORGANIZATIONS = streamName(HISTORICAL_EVENT_TYPE.organizations, 'crm');
const auth = { authorization: 'Bearer dev-admin-key', 'content-type': 'application/json' };

interface Snapshot {
  demoTenantId: string;
  tenants: number;
  memberships: number;
  runs: number;
  crmMemberships: number;
  organizationEvents: number;
}

async function snapshot(stack: RunningStack): Promise<Snapshot> {
  const db = createDb({ connectionString: stack.databaseUrl, maxConnections: 1 });
  const crmUrl = new URL(stack.databaseUrl);
  crmUrl.pathname = '/historical_sync_crm';
  const crm = createDb({ connectionString: crmUrl.toString(), maxConnections: 1 });
  const redis = new Redis(stack.redisUrl, { maxRetriesPerRequest: 1 });
  try {
    const count = async (table: string, of = db) =>
      (await sql<{ n: number }>`SELECT count(*)::int AS n FROM ${sql.table(table)}`.execute(of))
        .rows[0]?.n ?? -1;
    return {
      demoTenantId: stack.demoTenantId,
      tenants: await count('tenants'),
      memberships: await count('organization_memberships'),
      runs: await count('backfill_runs'),
      crmMemberships: await count('crm_memberships', crm),
      organizationEvents: await redis.xlen(ORGANIZATIONS),
    };
  } finally {
    redis.disconnect();
    await Promise.all([db.destroy(), crm.destroy()]);
  }
}

async function expectAllGone(stack: RunningStack, stateDir: string): Promise<void> {
  await expect
    .poll(() => leftovers(stack, stateDir), { timeout: STOP_BOUND_MS, interval: 200 })
    .toEqual([]);
  await stack.run.exited;
}

async function expectAofValid(stateDir: string): Promise<void> {
  const manifest = join(stateDir, 'dev', 'redis', 'appendonlydir', 'appendonly.aof.manifest');
  const { stdout } = await execFileAsync('redis-check-aof', [manifest]);
  expect(stdout).toMatch(/All AOF files and manifest are valid/);
}

describe('npm start', () => {
  let stateDir: string;
  let env: NodeJS.ProcessEnv;
  let baseline: Snapshot;
  const runs: NpmStart[] = [];

  beforeAll(async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'start-test-'));
    env = { ...envWithout('DATABASE_URL', 'REDIS_URL', 'PORT'), LOCAL_STATE_DIR: stateDir };
  });
  afterAll(async () => {
    // A failed assertion must not leave a stack running: end each npm's whole group.
    for (const run of runs) {
      if (run.npm.pid && run.npm.exitCode === null) {
        try {
          process.kill(-run.npm.pid, 'SIGTERM');
        } catch {}
        await run.exited;
      }
    }
    await rm(stateDir, { recursive: true, force: true });
  });

  const start = async (args: string[] = []) => {
    const stack = await startStack(env, args);
    runs.push(stack.run);
    return stack;
  };

  it('starts Postgres, Redis and the apps, seeds a demo tenant, and a backfill completes; a second npm start beside it never opens its data folder', async () => {
    const stack = await start();
    expect(stack.run.output()).toMatch(/Demo\s+tenant "demo" \S+ \(created now\)/);
    expect(stack.run.output()).toMatch(/Postgres\s+\S+ \(started here, pid \d+/);
    expect(stack.run.output()).toMatch(/Try\s+curl -H 'authorization: Bearer dev-admin-key' http/);
    const { apiUrl, demoTenantId } = stack;
    // The operator console: built by npm start when missing or stale, served by the API.
    expect(stack.run.output()).toContain(
      `Console   ${apiUrl}/console/ (sign in with the admin key)`,
    );
    const consolePage = await fetch(`${apiUrl}/console/`);
    expect(consolePage.status).toBe(200);
    expect(await consolePage.text()).toContain('<div id="app"></div>');
    // A newcomer's first ten minutes: the docs, the queues, the metrics and the CLI, each line
    // followed as printed.
    const output = stack.run.output();
    expect(output).toContain(`Docs      ${apiUrl}/docs (`);
    expect((await fetch(`${apiUrl}/docs`)).status).toBe(200);
    expect(output).toContain(
      `Queues    ${apiUrl}/admin/queues (Bull Board; user admin, password the admin key)`,
    );
    const board = await fetch(`${apiUrl}/admin/queues`, {
      headers: { authorization: `Basic ${Buffer.from('admin:dev-admin-key').toString('base64')}` },
    });
    expect(board.status).toBe(200);
    expect(output).toContain(
      `Metrics   curl -H 'authorization: Bearer dev-admin-key' ${apiUrl}/metrics`,
    );
    const metrics = await fetch(`${apiUrl}/metrics`, { headers: auth });
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toMatch(/^# HELP /m);
    const [, exported = ''] = output.match(/CLI\s+export HSYNC_API_URL=(\S+)\n/) ?? [];
    expect(exported).toBe(apiUrl);
    expect(output).toMatch(/\n\s+npx hsync tenants {3}\(every tenant's id/);
    expect(output).toContain(`npx hsync status ${demoTenantId} crm`);
    const tenantsCommand = await execFileAsync('npx', ['hsync', 'tenants'], {
      cwd: ROOT,
      env: { ...envWithout('HSYNC_API_KEY', 'ADMIN_API_KEY'), HSYNC_API_URL: exported },
    });
    expect(tenantsCommand.stdout).toContain(demoTenantId);
    const toggle = await fetch(
      `${apiUrl}/admin/organizations/${demoTenantId}/applications/crm/toggle`,
      { method: 'POST', headers: auth, body: JSON.stringify({ isEnabled: true }) },
    );
    const { runId } = (await toggle.json()) as { runId: string };
    await expect
      .poll(
        async () => {
          const run = await fetch(
            `${apiUrl}/admin/organizations/${demoTenantId}/sync-runs/${runId}`,
            { headers: auth },
          );
          return ((await run.json()) as { status: string }).status;
        },
        { timeout: 60_000, interval: 200 },
      )
      .toBe('completed');
    // The CRM consumer has projected the demo tenant's 10 memberships.
    await expect
      .poll(async () => (await snapshot(stack)).crmMemberships, { timeout: 60_000, interval: 200 })
      .toBe(10);
    baseline = await snapshot(stack);
    expect(baseline).toMatchObject({ tenants: 1, memberships: 10, runs: 1, organizationEvents: 7 });

    // A second npm start on the same data folder refuses, naming the running one.
    const second = npmStart(env);
    runs.push(second);
    expect((await second.exited).code).not.toBe(0);
    expect(second.output()).toMatch(
      new RegExp(`already running, started by pid ${stack.supervisorPid}`),
    );
    // The first one's servers are the only ones, untouched, and still answer.
    expect(await snapshot(stack)).toEqual(baseline);

    stack.run.npm.kill('SIGTERM');
    await expectAllGone(stack, stateDir);
    expect(stack.run.output()).toMatch(/stopped in [\d.]+s: api exited 0; worker exited 0/);
    await expectAofValid(stateDir);
  });

  it('SIGINT to the npm process stops everything, and the data is intact', async () => {
    const stack = await start();
    expect(stack.run.output()).toMatch(/Demo\s+tenant "demo" \S+ \(from an earlier start\)/);
    expect(await snapshot(stack)).toEqual(baseline);
    stack.run.npm.kill('SIGINT');
    await expectAllGone(stack, stateDir);
    await expectAofValid(stateDir);
  });

  it('Ctrl-C to the whole process group stops the apps before the servers, without a wall of errors', async () => {
    const stack = await start();
    expect(await snapshot(stack)).toEqual(baseline);
    const before = stack.run.output().length;
    process.kill(-(stack.run.npm.pid as number), 'SIGINT');
    await expectAllGone(stack, stateDir);
    const stopping = stack.run.output().slice(before);
    expect(stopping).toMatch(/stopping \(SIGINT\): apps first/);
    expect(stopping).toMatch(/api exited 0; worker exited 0; crm-consumer exited 0/);
    expect(stopping).not.toMatch(/57P01|consumer error|second signal|ECONNREFUSED/);
    await expectAofValid(stateDir);
  });

  it('SIGHUP to the npm process (its terminal closed) stops everything, and the data is intact', async () => {
    const stack = await start();
    expect(await snapshot(stack)).toEqual(baseline);
    stack.run.npm.kill('SIGHUP');
    await expectAllGone(stack, stateDir);
    expect(stack.run.output()).toMatch(/api exited 0; worker exited 0; crm-consumer exited 0/);
    await expectAofValid(stateDir);
  });

  it('a SIGKILLed supervisor leaves no orphans: apps and servers notice and stop', async () => {
    const stack = await start();
    expect(await snapshot(stack)).toEqual(baseline);
    process.kill(stack.supervisorPid, 'SIGKILL');
    await expectAllGone(stack, stateDir);
    await expectAofValid(stateDir);
  });

  it('after all of that npm start -- --production finds the data as it was, running the compiled apps with plain node', async () => {
    const stack = await start(['--production']);
    expect(stack.run.output()).toMatch(
      /starting api, worker, crm-consumer \(compiled, plain node\)/,
    );
    for (const app of APP_ENTRIES) {
      const commandLine = readFileSync(`/proc/${stack.pids[app.name]}/cmdline`, 'utf8')
        .split('\0')
        .filter(Boolean);
      expect(commandLine.slice(1), app.name).toEqual([app.compiled]);
    }
    expect(await snapshot(stack)).toEqual(baseline);
    stack.run.npm.kill('SIGTERM');
    await expectAllGone(stack, stateDir);
    expect(stack.run.output()).toMatch(/api exited 0; worker exited 0; crm-consumer exited 0/);
  });
});
