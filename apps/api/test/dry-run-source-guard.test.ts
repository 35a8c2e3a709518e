/**
 * A tenant's dry runs cannot make the source guard stop every tenant's pages. Two API processes
 * (two apps, each with its own Postgres pool as a process has) take a storm of concurrent dry
 * runs from one tenant key while another tenant's backfill runs under source protection: dry runs
 * hold leases in Redis shared by both apps, so at most DRY_RUNS_PER_TENANT (1) runs at a time (its
 * 3 counts are the only active API backends), the rest get 429 naming the limit, another tenant's
 * dry run still gets its answer, no page ever waits for the guard, and the backfill keeps
 * publishing through the storm.
 *
 * The guard's threshold is 8 active backends here, not the default 16: on a 2-core test machine
 * the two pools' 20 connections reach about 12 active backends at once, which is the point (with
 * more API processes, or longer counts, they reach any threshold). Without the leases the storm
 * pauses the pages; with them a tenant's dry runs hold 3, and another tenant's dry run 3 more.
 */
import type { BackfillSettings } from '@historical-sync/backfill';
import { createDb, type Db, seedTenant } from '@historical-sync/db';
import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/app';
import { dryRunLeaseKeys } from '../src/http/dry-run-limit';
import {
  ADMIN_KEY,
  type ApiTestContext,
  createApiTestContext,
  createTenantKey,
  startMembershipsSync,
} from './helpers';

const protection: NonNullable<BackfillSettings['sourceProtection']> = {
  latencyMs: null,
  maxActiveBackends: 8,
  maxLockWaits: null,
  probeIntervalMs: 25,
  apiLagMs: null,
};
const STORM_MS = Number(process.env.DRY_RUN_STORM_MS ?? 4_000);
/** Concurrent dry-run loops per API process: more than its pool (10) can serve at once. */
const LOOPS_PER_API = 30;
const API_NAME = 'historical-sync-api';

describe('dry runs and the source guard', () => {
  let t: ApiTestContext;
  const apis: { app: FastifyInstance; db: Db }[] = [];

  beforeAll(async () => {
    t = await createApiTestContext('dry_run_source', {
      settings: { sourceProtection: protection, pageSize: 100 },
    });
    for (let i = 0; i < 2; i += 1) {
      // The API's own pool, named as the API names it: the guard counts its backends, and not the
      // workers' (which share the test context's name).
      const db = createDb({ connectionString: t.databaseUrl, applicationName: API_NAME });
      const app = await buildApp({
        db,
        redis: t.redis,
        queues: t.queues,
        settings: t.settings,
        logger: t.logger,
        adminApiKey: ADMIN_KEY,
        bodyLimitBytes: 64 * 1024,
        rateLimitPerMinute: 0,
        apiKeyCacheMs: 60_000,
        failedAuthPerMinute: 0,
      });
      apis.push({ app, db });
    }
  });
  afterAll(async () => {
    for (const api of apis) {
      await api.app.close();
      await api.db.destroy();
    }
    await t?.close();
  });

  it("a tenant's concurrent dry runs on two API processes are bounded and never pause another tenant's backfill", async () => {
    // Counting this tenant's rows takes a while: its dry runs hold their backends.
    const { tenantId: heavy } = await seedTenant(t.db, {
      tenantName: 'dry-heavy',
      organizations: 20_000,
      memberships: 200_000,
      creditAllocations: 50_000,
      app: 'crm',
      seed: 5,
    });
    const heavyKey = await createTenantKey(t, heavy);
    const { tenantId: other } = await seedTenant(t.db, {
      tenantName: 'dry-other',
      organizations: 3,
      memberships: 3,
      creditAllocations: 0,
      app: 'crm',
      seed: 6,
    });

    const otherKey = await createTenantKey(t, other);

    const rows = 30_000;
    const { tenantId: quiet, runId } = await startMembershipsSync(t, 'backfilling', rows, {
      maxEventsPerSecond: 3_000,
    });
    const workers = t.startWorkers();
    const guard = workers.sourceGuard;
    if (!guard) throw new Error('expected a source guard');
    const stream = t.streams('crm').memberships;
    const published = async () => t.redis.xlen(stream);
    await expect.poll(published, { timeout: 20_000, interval: 20 }).toBeGreaterThan(500);

    const dryRun = (app: FastifyInstance, tenantId: string, headers: Record<string, string>) =>
      app.inject({
        method: 'POST',
        url: `/admin/organizations/${tenantId}/applications/crm/sync-historical`,
        headers,
        payload: { dryRun: true },
      });
    // Each process has both keys cached before the storm: a key's first lookup is a query too.
    for (const { app } of apis) {
      for (const [tenantId, key] of [
        [heavy, heavyKey],
        [other, otherKey],
      ] as const) {
        const response = await app.inject({
          method: 'GET',
          url: `/admin/organizations/${tenantId}/applications`,
          headers: { authorization: `Bearer ${key}` },
        });
        expect(response.statusCode, response.body).toBe(200);
      }
    }
    const answers: { status: number; body: string; retryAfter: unknown }[] = [];
    /** `at` to `done`: when the sample's pg_stat_activity query was out. */
    const samples: {
      at: number;
      done: number;
      reason: string | null;
      apiActive: number;
      published: number;
    }[] = [];
    const until = Date.now() + STORM_MS;
    const storm = apis.flatMap(({ app }) =>
      Array.from({ length: LOOPS_PER_API }, async () => {
        while (Date.now() < until) {
          const response = await dryRun(app, heavy, { authorization: `Bearer ${heavyKey}` });
          answers.push({
            status: response.statusCode,
            body: response.body,
            retryAfter: response.headers['retry-after'],
          });
        }
      }),
    );
    // Active API backends as the guard counts them (client backends: a count's parallel workers
    // carry its application name too).
    const sampler = (async () => {
      while (Date.now() < until) {
        const at = Date.now();
        const { rows: active } = await sql<{ n: number }>`
          SELECT count(*)::int AS n FROM pg_stat_activity
          WHERE application_name = ${API_NAME} AND state = 'active'
            AND backend_type = 'client backend'`.execute(t.db);
        samples.push({
          at,
          done: Date.now(),
          reason: guard.reason,
          apiActive: active[0]?.n ?? 0,
          published: await published(),
        });
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    // Another tenant's dry runs, in the middle of the storm, on each process in turn.
    await new Promise((resolve) => setTimeout(resolve, STORM_MS / 2));
    const otherFrom = Date.now();
    const otherAnswers = [];
    for (const { app } of apis) {
      otherAnswers.push(await dryRun(app, other, { authorization: `Bearer ${otherKey}` }));
    }
    const otherUntil = Date.now();
    await Promise.all([...storm, sampler]);

    // Dry runs: answered one at a time, the rest refused naming the limit.
    const ok = answers.filter((a) => a.status === 200);
    const refused = answers.filter((a) => a.status === 429);
    expect(ok.length + refused.length, JSON.stringify(answers.slice(0, 3))).toBe(answers.length);
    expect(ok.length).toBeGreaterThan(0);
    expect(refused.length).toBeGreaterThan(0);
    expect(JSON.parse(ok[0]?.body ?? '{}').counts).toEqual({
      credits: 50_000,
      organizations: 20_000,
      memberships: 200_000,
    });
    for (const answer of refused) {
      expect(JSON.parse(answer.body)).toMatchObject({
        error: 'quota_exceeded',
        message: expect.stringMatching(/DRY_RUNS_PER_TENANT/),
      });
      expect(answer.retryAfter).toBe('1');
    }
    for (const answer of otherAnswers) expect(answer.statusCode, answer.body).toBe(200);
    // Never more than one dry run's counts of the tenant at once (3), on both processes together.
    expect(samples.length).toBeGreaterThan(20);
    // The other tenant's dry runs add theirs while they run.
    const alone = samples.filter((s) => s.done < otherFrom || s.at > otherUntil);
    expect(alone.length).toBeGreaterThan(10);
    expect(Math.max(...alone.map((s) => s.apiActive))).toBeLessThanOrEqual(3);
    expect(Math.max(...samples.map((s) => s.apiActive))).toBeLessThanOrEqual(6);

    // The guard never paused the pages (no page waited for it), and they kept coming through the
    // storm.
    expect(samples.filter((s) => s.reason?.includes('active backends'))).toEqual([]);
    expect(guard.throttledSeconds).toBe(0);
    expect(guard.probes).toBeGreaterThan(20);
    const firstHalf = samples.slice(0, samples.length / 2);
    const secondHalf = samples.slice(samples.length / 2);
    const growth = (part: typeof samples) =>
      (part.at(-1)?.published ?? 0) - (part[0]?.published ?? 0);
    expect(growth(firstHalf)).toBeGreaterThan(0);
    expect(growth(secondHalf)).toBeGreaterThan(0);

    // No lease left behind.
    for (const key of dryRunLeaseKeys(t.settings.queuePrefix, heavy)) {
      expect(await t.redis.zcard(key)).toBe(0);
    }
    const run = await t.waitForRun(runId, ['completed', 'failed'], 60_000);
    expect(run.status).toBe('completed');
    const events = (await t.readEvents(stream)).filter((e) => e.tenantId === quiet);
    expect(events).toHaveLength(rows);
  });
});
