/**
 * `npm run bench:verify -- [--memberships 1000000]`
 *
 * What a verification costs against what it replaces, in the same invocation on the same data:
 *   backfill   a full backfill of the tenant (HTTP enable -> worker -> streams): its time and the
 *              source Postgres's CPU;
 *   verify     `POST …/verify` of the tenant with the application's copy in sync, then with
 *              0.01 % and 1 % of its rows damaged (at an older version): time, source Postgres
 *              CPU, and the application side's CPU (the SDK's responder hashing rows);
 *   repair     for the damaged copies, the repair run the verification starts (`repair`): the
 *              rows it publishes, its time from the verification's answer to its completion,
 *              and the source Postgres's CPU meanwhile.
 * The application here is this process: a responder (`startVerifyResponder`) whose store is an
 * in-memory copy of the source's active rows, so the Postgres CPU measured is the source's alone.
 * The last line printed is one JSON object with the figures.
 */
import { parseArgs } from 'node:util';
import { type StoredRow, startVerifyResponder } from '@historical-sync/consumer';
import type { Resource } from '@historical-sync/contracts';
import { seedTenant } from '@historical-sync/db';
import { createTestDatabase } from '@historical-sync/db/testing';
import { findFreePort, localStateDir, startLocalServices } from '@historical-sync/local-stack';
import { Redis } from 'ioredis';
import { sql } from 'kysely';
import { z } from 'zod';
import { cpuDelta, cpuSnapshot, serverPorts } from './lib/cpu';
import { type AppProcess, startApp, waitForOk } from './lib/processes';
import { say, sleep } from './lib/say';
import { round } from './lib/stats';

const Args = z.object({ memberships: z.coerce.number().int().min(1).default(1_000_000) });
const ADMIN_KEY = 'bench-admin-key';

type Copy = Record<Resource, { id: string; version: number }[]>;

/** The first index whose id is at or after `id` (ids sorted as text: uuid order). */
function lowerBound(rows: { id: string }[], id: string): number {
  let lo = 0;
  let hi = rows.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((rows[mid]?.id ?? '') < id) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

async function main() {
  const { values } = parseArgs({ options: { memberships: { type: 'string' } } });
  const args = Args.parse(values);
  const services = await startLocalServices({
    stateDir: localStateDir(`bench-verify-${process.pid}`),
    databaseUrl: process.env.DATABASE_URL,
    redisUrl: process.env.REDIS_URL,
    ephemeral: true,
  });
  process.env.DATABASE_URL = services.databaseUrl;
  const database = await createTestDatabase('bench_verify');
  const redis = new Redis(services.redisUrl);
  const apps: AppProcess[] = [];
  const ports = serverPorts(database.url, services.redisUrl);
  try {
    say(`seeding ${args.memberships} memberships...`);
    const { tenantId } = await seedTenant(database.db, {
      tenantName: 'bench-verify',
      organizations: Math.max(1, Math.round(args.memberships / 100)),
      memberships: args.memberships,
      creditAllocations: Math.max(1, Math.round(args.memberships / 100)),
      app: 'crm',
      seed: 4,
    });
    await sql`VACUUM ANALYZE`.execute(database.db);

    // The application's copy, in sync: the source's active rows, sorted by id.
    const read = async (query: string) =>
      (await sql<{ id: string; version: number }>`${sql.raw(query)}`.execute(database.db)).rows;
    const copy: Copy = {
      organizations: await read(
        `SELECT id::text, version FROM entities WHERE tenant_id = '${tenantId}' AND entity_type = 'organization' AND is_active ORDER BY id`,
      ),
      memberships: await read(
        `SELECT id::text, version FROM organization_memberships WHERE tenant_id = '${tenantId}' AND is_active ORDER BY id`,
      ),
      credits: await read(
        `SELECT id::text, version FROM credit_allocations WHERE tenant_id = '${tenantId}' AND target_application = 'crm' AND is_active ORDER BY id`,
      ),
    };
    const responder = startVerifyResponder({
      redis,
      appCode: 'crm',
      streamPrefix: '',
      consumerName: 'bench',
      rows: async ({ resource, range }): Promise<StoredRow[]> => {
        const rows = copy[resource];
        const from = lowerBound(rows, range.lo);
        const to = range.hi === null ? rows.length : lowerBound(rows, range.hi);
        return rows.slice(from, to).map((r) => ({ id: r.id, version: r.version, active: true }));
      },
    });

    const port = await findFreePort();
    const env = {
      ...process.env,
      DATABASE_URL: database.url,
      REDIS_URL: services.redisUrl,
      PORT: String(port),
      ADMIN_API_KEY: ADMIN_KEY,
      LOG_LEVEL: 'warn',
      BACKFILL_SOURCE_PROTECTION: 'off',
      RATE_LIMIT_PER_MINUTE: '100000000',
    };
    const api = startApp('api', env);
    const worker = startApp('worker', {
      ...env,
      WORKER_ROLES: 'runs,credits,organizations,memberships',
    });
    apps.push(api, worker);
    const base = `http://127.0.0.1:${port}`;
    const headers = { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' };
    await waitForOk(`${base}/health`, () => api.output());
    await sleep(1_000); // the worker connects

    // The full backfill.
    let cpuBefore = await cpuSnapshot(worker.child.pid, ports);
    let started = performance.now();
    const enabled = (await (
      await fetch(`${base}/admin/organizations/${tenantId}/applications/crm/toggle`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ isEnabled: true }),
      })
    ).json()) as { runId: string };
    for (;;) {
      const run = (await (
        await fetch(`${base}/admin/organizations/${tenantId}/sync-runs/${enabled.runId}`, {
          headers,
        })
      ).json()) as { status: string; published: number };
      if (run.status === 'completed') break;
      if (run.status === 'failed') throw new Error(`backfill failed: ${worker.output()}`);
      await sleep(100);
    }
    const backfill = {
      seconds: round((performance.now() - started) / 1000, 2),
      postgresCpuSeconds: round(
        cpuDelta(cpuBefore, await cpuSnapshot(worker.child.pid, ports)).postgres ?? 0,
        2,
      ),
    };
    say(`backfill: ${backfill.seconds} s, source Postgres ${backfill.postgresCpuSeconds} CPU s`);

    /** Waits for a run to complete: its time and the source's CPU from now. */
    const runToCompletion = async (runId: string) => {
      const before = await cpuSnapshot(worker.child.pid, ports);
      const from = performance.now();
      for (;;) {
        const run = (await (
          await fetch(`${base}/admin/organizations/${tenantId}/sync-runs/${runId}`, { headers })
        ).json()) as { status: string; published: number };
        if (run.status === 'completed') {
          return {
            rows: run.published,
            seconds: round((performance.now() - from) / 1000, 2),
            postgresCpuSeconds: round(
              cpuDelta(before, await cpuSnapshot(worker.child.pid, ports)).postgres ?? 0,
              2,
            ),
          };
        }
        if (run.status === 'failed') throw new Error(`run failed: ${worker.output()}`);
        await sleep(50);
      }
    };

    const verify = async (label: string, repair = false) => {
      cpuBefore = await cpuSnapshot(undefined, ports);
      const appCpuBefore = process.cpuUsage();
      started = performance.now();
      const report = (await (
        await fetch(`${base}/admin/organizations/${tenantId}/applications/crm/verify`, {
          method: 'POST',
          headers,
          body: JSON.stringify(repair ? { repair } : {}),
        })
      ).json()) as {
        status: string;
        differences: number;
        error: string | null;
        resources: Record<string, { rangesCompared: number; leavesCompared: number }>;
        repair: { runId: string | null; rows: number } | null;
      };
      if (report.status !== 'completed')
        throw new Error(`verification ${report.status}: ${report.error}`);
      const appCpu = process.cpuUsage(appCpuBefore);
      const figures = {
        label,
        seconds: round((performance.now() - started) / 1000, 2),
        postgresCpuSeconds: round(
          cpuDelta(cpuBefore, await cpuSnapshot(undefined, ports)).postgres ?? 0,
          2,
        ),
        applicationCpuSeconds: round((appCpu.user + appCpu.system) / 1e6, 2),
        differences: report.differences,
        rangesCompared: Object.values(report.resources).reduce((n, r) => n + r.rangesCompared, 0),
        leavesCompared: Object.values(report.resources).reduce((n, r) => n + r.leavesCompared, 0),
      };
      say(
        `verify (${label}): ${figures.seconds} s, source Postgres ${figures.postgresCpuSeconds} CPU s, application ${figures.applicationCpuSeconds} CPU s; ${figures.differences} differences, ${figures.rangesCompared} ranges, ${figures.leavesCompared} leaves`,
      );
      if (!report.repair?.runId) return figures;
      const repaired = await runToCompletion(report.repair.runId);
      say(
        `repair (${label}): ${repaired.rows} rows published in ${repaired.seconds} s, source Postgres ${repaired.postgresCpuSeconds} CPU s`,
      );
      return { ...figures, repair: repaired };
    };

    const results = [await verify('in sync')];
    // Damage spread over the table: every k-th membership at an older version (stale), which a
    // repair sends again. The copy here does not read the streams: it is put back by hand.
    for (const share of [0.0001, 0.01]) {
      const rows = copy.memberships;
      const damaged = Math.round(rows.length * share);
      const step = Math.floor(rows.length / damaged);
      for (let i = 0; i < damaged; i++) {
        const row = rows[i * step];
        if (row) row.version -= 1;
      }
      results.push(await verify(`${share * 100} % damaged (${damaged} rows)`, true));
      for (let i = 0; i < damaged; i++) {
        const row = rows[i * step];
        if (row) row.version += 1;
      }
    }
    await responder.stop();
    say(JSON.stringify({ memberships: args.memberships, backfill, verify: results }));
  } finally {
    await Promise.all(apps.map((app) => app.stop()));
    redis.disconnect();
    await database.destroy();
    await services.stop();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
