/**
 * /health (the process is up), /ready (Postgres and Redis answer) and /metrics (Prometheus text,
 * admin-only) and /admin/outbox (the outbox backlog, admin-only); metrics are collected at scrape time from the queues, Postgres and Redis, so it
 * holds across every worker process without them reporting here.
 */
import {
  ACTIVE_RUN_STATUSES,
  type BackfillQueues,
  lastRetentionPass,
  type RedisClient,
  redisMemory,
  type StreamRetention,
  streamReport,
  systemStreams,
} from '@historical-sync/backfill';
import { ROUTES } from '@historical-sync/contracts';
import { type Db, outboxBacklog } from '@historical-sync/db';
import { createMetricsRegistry } from '@historical-sync/runtime';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { sql } from 'kysely';
import { Gauge, type Metric } from 'prom-client';
import { z } from 'zod';
import { ANY_ROUTE, errorResponses, KEYED } from '../http/responses';

export interface ObservabilityDeps {
  db: Db;
  redis: RedisClient;
  queues: BackfillQueues;
  streamPrefix: string;
  queuePrefix: string;
  retention: StreamRetention;
  /** The API's answer times (request-durations.ts), served with the rest. */
  requestDurations?: Metric;
}

const withTimeout = <T>(promise: Promise<T>, ms: number) =>
  Promise.race([
    promise,
    new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms),
    ),
  ]);

const Health = z.object({ status: z.literal('ok') });
const Dependency = z.enum(['ok', 'unreachable']);
const Readiness = z.object({
  status: z.enum(['ready', 'not ready']),
  postgres: Dependency,
  redis: Dependency,
});
/** No key: a load balancer or orchestrator probes these. */
const PUBLIC = { tags: ['health'], security: [] };

export function healthRoutes(scope: FastifyInstance, deps: ObservabilityDeps): void {
  const app = scope.withTypeProvider<ZodTypeProvider>();
  app.get(
    '/health',
    {
      schema: {
        ...PUBLIC,
        summary: 'The process is up',
        response: { 200: Health.describe('up'), ...errorResponses(...ANY_ROUTE) },
      },
    },
    async () => ({ status: 'ok' as const }),
  );
  app.get(
    '/ready',
    {
      schema: {
        ...PUBLIC,
        summary: 'Postgres and Redis are reachable (503 names the one that is not)',
        response: {
          200: Readiness.describe('Postgres and Redis answer'),
          503: Readiness.describe('Postgres or Redis is unreachable'),
          ...errorResponses(...ANY_ROUTE),
        },
      },
    },
    async (request, reply) => {
      // Unauthenticated: say which dependency is down, log the details (hosts, ports) instead.
      const check = async (probe: () => Promise<unknown>) =>
        withTimeout(probe(), 2_000).then(
          () => 'ok' as const,
          (error: unknown) => {
            request.log.warn({ err: error }, 'readiness check failed');
            return 'unreachable' as const;
          },
        );
      const [postgres, redis] = await Promise.all([
        check(() => sql`SELECT 1`.execute(deps.db)),
        check(() => deps.redis.ping()),
      ]);
      const ready = postgres === 'ok' && redis === 'ok';
      return reply
        .status(ready ? 200 : 503)
        .send({ status: ready ? 'ready' : 'not ready', postgres, redis });
    },
  );
}

export function outboxRoute(scope: FastifyInstance, deps: { db: Db }): void {
  const { getOutbox: route } = ROUTES;
  scope.withTypeProvider<ZodTypeProvider>().get(
    route.path,
    {
      schema: {
        summary:
          "Outbox backlog of every tenant: unpublished rows, the oldest one's age, rows set aside",
        tags: ['observability'],
        response: {
          200: route.response[200].describe('the backlog'),
          ...errorResponses(...KEYED),
        },
      },
    },
    async () => outboxBacklog(deps.db),
  );
}

export function metricsRoute(scope: FastifyInstance, deps: ObservabilityDeps): void {
  const admin = scope.withTypeProvider<ZodTypeProvider>();
  const registry = createMetricsRegistry();
  if (deps.requestDurations) registry.registerMetric(deps.requestDurations);
  const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[] = []) =>
    new Gauge<L>({ name, help, labelNames, registers: [registry] });
  const jobs = gauge('hs_queue_jobs', 'Jobs per queue and state', ['queue', 'state']);
  const runs = gauge('hs_backfill_runs', 'Backfill runs per status', ['status']);
  const published = gauge(
    'hs_historical_events_published',
    'Historical events published, all runs, per application and resource',
    ['app', 'resource', 'source'],
  );
  const runLabels = ['run_id', 'tenant_id', 'app'] as const;
  const progress = gauge(
    'hs_run_progress_ratio',
    'Published / total of each active run',
    runLabels,
  );
  const runPublished = gauge(
    'hs_run_events_published',
    'Events published by each active run, per resource',
    [...runLabels, 'resource'],
  );
  const runTotal = gauge(
    'hs_run_events_total',
    'Events each active run will publish, per resource',
    [...runLabels, 'resource'],
  );
  const backlog = gauge('hs_outbox_backlog_rows', 'Unpublished outbox rows');
  const outboxFailed = gauge(
    'hs_outbox_failed_rows',
    'Outbox rows set aside: their payload is not a valid event',
  );
  const backlogAge = gauge(
    'hs_outbox_oldest_age_seconds',
    'Age of the oldest unpublished outbox row',
  );
  const groupLabels = ['stream', 'group'] as const;
  const lag = gauge(
    'hs_consumer_lag',
    'Entries not yet delivered to a consumer group (absent when Redis cannot tell: see hs_consumer_lag_unknown)',
    groupLabels,
  );
  const lagUnknown = gauge(
    'hs_consumer_lag_unknown',
    '1 when Redis cannot tell a group its lag (after deletions): an alarm, not a zero',
    groupLabels,
  );
  const pending = gauge(
    'hs_consumer_pending',
    'Entries delivered to a consumer group but not acknowledged',
    groupLabels,
  );
  const groupIdle = gauge(
    'hs_consumer_group_idle_seconds',
    'Since any consumer of the group last read (absent when it has none)',
    groupLabels,
  );
  const groupStalled = gauge(
    'hs_consumer_group_stalled',
    '1 when the group has entries to read and has not read for STREAM_GROUP_STALLED_MS: Redis keeps them for it',
    groupLabels,
  );
  const streamLength = gauge('hs_stream_length', 'Entries on the stream', ['stream']);
  const streamBytes = gauge(
    'hs_stream_memory_bytes',
    'Bytes the stream takes in Redis (MEMORY USAGE, sampled)',
    ['stream'],
  );
  const streamOldest = gauge(
    'hs_stream_oldest_unacked_age_seconds',
    'Age of the oldest entry some consumer group has not acknowledged (0 when none)',
    ['stream'],
  );
  const redisUsed = gauge('hs_redis_used_memory_bytes', "Redis's used_memory");
  const redisMax = gauge('hs_redis_maxmemory_bytes', "Redis's maxmemory (0 = no limit)");
  const lastTrim = gauge(
    'hs_stream_last_trim_timestamp_seconds',
    'When the streams were last trimmed of what every group acknowledged (0 = never)',
  );
  const verificationDifferences = gauge(
    'hs_verification_differences',
    "Rows that differ from the source in each tenant's latest completed verification, summed per application",
    ['app'],
  );
  const verificationsDiffering = gauge(
    'hs_verification_tenants_differing',
    'Tenants whose latest completed verification of the application found differences',
    ['app'],
  );

  const metricsSchema = {
    summary: 'Prometheus metrics (text exposition format), collected at scrape time',
    tags: ['observability'],
    response: {
      200: {
        description: 'the metrics (Prometheus text format)',
        content: { 'text/plain': { schema: z.string() } },
      },
      ...errorResponses(...KEYED),
    },
  };
  admin.get('/metrics', { schema: metricsSchema }, async (_request, reply) => {
    for (const series of [
      jobs,
      runs,
      published,
      progress,
      runPublished,
      runTotal,
      lag,
      lagUnknown,
      pending,
      groupIdle,
      groupStalled,
      streamLength,
      streamBytes,
      streamOldest,
      verificationDifferences,
      verificationsDiffering,
    ])
      series.reset();
    for (const queue of deps.queues.all()) {
      const counts = await queue.getJobCounts(
        'active',
        'waiting',
        'delayed',
        'failed',
        'completed',
        'waiting-children',
      );
      for (const [state, n] of Object.entries(counts)) jobs.set({ queue: queue.name, state }, n);
    }
    for (const row of await deps.db
      .selectFrom('backfill_runs')
      .select(['status', (eb) => eb.fn.countAll<number>().as('n')])
      .groupBy('status')
      .execute()) {
      runs.set({ status: row.status }, row.n);
    }
    const totals = await deps.db
      .selectFrom('backfill_run_resources as r')
      .innerJoin('backfill_runs as b', 'b.id', 'r.run_id')
      .select(['b.app_code', 'r.resource', (eb) => eb.fn.sum<number>('r.published').as('n')])
      .groupBy(['b.app_code', 'r.resource'])
      .execute();
    for (const row of totals)
      published.set(
        { app: row.app_code, resource: row.resource, source: 'historical' },
        Number(row.n),
      );
    const active = await deps.db
      .selectFrom('backfill_run_resources as r')
      .innerJoin('backfill_runs as b', 'b.id', 'r.run_id')
      .select(['b.id', 'b.tenant_id', 'b.app_code', 'r.resource', 'r.published', 'r.total'])
      .where('b.status', 'in', ACTIVE_RUN_STATUSES)
      .execute();
    const byRun = new Map<
      string,
      { labels: Record<string, string>; published: number; total: number }
    >();
    for (const row of active) {
      const labels = { run_id: row.id, tenant_id: row.tenant_id, app: row.app_code };
      runPublished.set({ ...labels, resource: row.resource }, row.published);
      runTotal.set({ ...labels, resource: row.resource }, row.total ?? 0);
      const run = byRun.get(row.id) ?? { labels, published: 0, total: 0 };
      run.published += row.published;
      run.total += row.total ?? 0;
      byRun.set(row.id, run);
    }
    for (const run of byRun.values())
      progress.set(run.labels, run.total ? run.published / run.total : 0);
    const outbox = await outboxBacklog(deps.db);
    backlog.set(outbox.unpublished);
    outboxFailed.set(outbox.failed);
    backlogAge.set((outbox.oldestAgeMs ?? 0) / 1000);
    const streams = await systemStreams(deps.db, deps.streamPrefix);
    // Every stream's report at once, as the System page reads them (round trips, not sequential).
    const reports = await Promise.all(
      streams.map((stream) => streamReport(deps.redis, stream, deps.retention)),
    );
    for (const report of reports) {
      const { stream } = report;
      streamLength.set({ stream }, report.length);
      streamBytes.set({ stream }, report.memoryBytes);
      streamOldest.set({ stream }, report.oldestUnackedAgeSeconds ?? 0);
      for (const group of report.groups) {
        const labels = { stream, group: group.group };
        if (group.lag !== null) lag.set(labels, group.lag);
        lagUnknown.set(labels, group.lag === null ? 1 : 0);
        pending.set(labels, group.pending);
        if (group.idleSeconds !== null) groupIdle.set(labels, group.idleSeconds);
        groupStalled.set(labels, group.stalled ? 1 : 0);
      }
    }
    const memory = await redisMemory(deps.redis);
    redisUsed.set(memory.usedBytes);
    redisMax.set(memory.maxBytes);
    lastTrim.set(((await lastRetentionPass(deps.redis, deps.queuePrefix))?.at ?? 0) / 1000);
    // Each tenant's latest completed verification of each application (docs/VERIFY.md).
    const { rows: verified } = await sql<{
      app_code: string;
      differences: string;
      tenants: string;
    }>`
      SELECT app_code, sum(n)::text AS differences, count(*) FILTER (WHERE n > 0)::text AS tenants
      FROM (
        -- The latest first, then its report summed: earlier reports are never read.
        SELECT app_code, (SELECT coalesce(sum((r.value->>'missing')::int
            + (r.value->>'stale')::int + (r.value->>'ghost')::int), 0)
          FROM jsonb_each(latest.report->'resources') AS r) AS n
        FROM (
          SELECT DISTINCT ON (tenant_id, application_id) app_code, report
          FROM verifications WHERE status = 'completed'
          ORDER BY tenant_id, application_id, started_at DESC
        ) latest
      ) counted
      GROUP BY app_code
    `.execute(deps.db);
    for (const row of verified) {
      verificationDifferences.set({ app: row.app_code }, Number(row.differences));
      verificationsDiffering.set({ app: row.app_code }, Number(row.tenants));
    }
    return reply.header('content-type', registry.contentType).send(await registry.metrics());
  });
}
