/**
 * The worker process, doing what WORKER_ROLES lists: backfill workers for the resource and run
 * queues, the outbox relay, and the sweeper that enqueues runs whose first enqueue failed.
 * SIGTERM stops taking work, finishes the current page or batch, closes connections, exits.
 */

import { hostname } from 'node:os';
import {
  BackfillQueues,
  backfillSettingsFrom,
  DEFAULT_RETENTION,
  retentionKeys,
  startBackfillWorkers,
  startWorkerHeartbeat,
  streamRetention,
  sweepRuns,
} from '@historical-sync/backfill';
import { RESOURCES, type Resource, resourceOfEvent } from '@historical-sync/contracts';
import { createDb } from '@historical-sync/db';
import { OutboxRelay } from '@historical-sync/relay';
import {
  createLogger,
  createMetricsRegistry,
  createRedis,
  loadSettingsOrExit,
  onStopSignal,
  postgresCheck,
  redisCheck,
  requireReachable,
  serveMetrics,
} from '@historical-sync/runtime';
import { sql } from 'kysely';
import { Counter, Gauge, Histogram } from 'prom-client';
import { loadConfig } from './config';
import { replicaMismatch } from './source-db';
import { startSweeper } from './sweeper';
import { scheduleMismatch, startVerifySchedule } from './verify-schedule';

const config = loadSettingsOrExit('worker', loadConfig);
const logger = createLogger('worker', config.LOG_LEVEL);
const db = createDb({
  connectionString: config.DATABASE_URL,
  applicationName: 'historical-sync-worker',
  onConnectionError: (error) =>
    logger.warn({ err: error }, 'lost a Postgres connection; queries reconnect'),
});
// Backfill pages from a replica when one is given (source-db.ts); everything else on the primary.
const sourceUrl = config.BACKFILL_DATABASE_URL;
const sourceDb = sourceUrl
  ? createDb({
      connectionString: sourceUrl,
      applicationName: 'historical-sync-worker',
      onConnectionError: (error) =>
        logger.warn({ err: error }, 'lost a connection to the replica; queries reconnect'),
    })
  : undefined;
await requireReachable('worker', [
  postgresCheck('DATABASE_URL', config.DATABASE_URL, () => sql`SELECT 1`.execute(db)),
  ...(sourceUrl && sourceDb
    ? [postgresCheck('BACKFILL_DATABASE_URL', sourceUrl, () => sql`SELECT 1`.execute(sourceDb))]
    : []),
  redisCheck(config.REDIS_URL),
]);
if (sourceUrl && sourceDb) {
  const mismatch = await replicaMismatch(
    { db, url: config.DATABASE_URL },
    { db: sourceDb, url: sourceUrl },
  );
  if (mismatch) {
    process.stderr.write(`worker: ${mismatch}\n`);
    process.exit(1);
  }
}
const scheduleError = await scheduleMismatch(db, config.VERIFY_SCHEDULE);
if (scheduleError) {
  process.stderr.write(`worker: ${scheduleError}\n`);
  process.exit(2);
}
const redis = createRedis(config.REDIS_URL, 'historical-sync-worker');
const settings = backfillSettingsFrom(config);
const queues = new BackfillQueues(redis, settings.queuePrefix);

const roles = new Set(config.WORKER_ROLES);
const queueRoles = config.WORKER_ROLES.filter(
  (role): role is 'runs' | Resource => role === 'runs' || RESOURCES.includes(role as Resource),
);

const registry = createMetricsRegistry();
const eventsPublished = new Counter({
  name: 'hs_events_published_total',
  help: 'Events published to the streams, by resource, application and source',
  labelNames: ['resource', 'app', 'source'],
  registers: [registry],
});
const pageDuration = new Histogram({
  name: 'hs_page_publish_seconds',
  help: 'Duration of one atomic page publish',
  labelNames: ['resource'],
  buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
  registers: [registry],
});
// The console's view of this process (`GET /admin/system`): a heartbeat and its events per 10 s.
const heartbeat = startWorkerHeartbeat({
  redis,
  prefix: settings.queuePrefix,
  id: `${hostname()}:${process.pid}`,
  roles: config.WORKER_ROLES,
  onError: (error) => logger.debug({ err: error }, 'heartbeat not written; next one retries'),
});

const workers = startBackfillWorkers(
  {
    db,
    ...(sourceDb ? { sourceDb } : {}),
    redis,
    settings,
    logger,
    onPagePublished: (page) => {
      eventsPublished.inc(
        { resource: page.resource, app: page.appCode, source: 'historical' },
        page.events,
      );
      pageDuration.observe({ resource: page.resource }, page.seconds);
      heartbeat.count(page.events);
    },
  },
  {
    queues: queueRoles,
    concurrency: config.WORKER_CONCURRENCY,
    lockDurationMs: config.WORKER_LOCK_DURATION_MS,
    stalledIntervalMs: config.WORKER_STALLED_INTERVAL_MS,
  },
);

// Sweeps never overlap, and a stop waits for the one in flight (sweeper.ts).
const sweeper = roles.has('sweeper')
  ? startSweeper({
      intervalMs: config.SWEEP_INTERVAL_MS,
      sweep: async () => {
        const enqueued = await sweepRuns(db, queues, config.SWEEP_QUEUED_AFTER_MS);
        if (enqueued) logger.info({ enqueued }, 'sweeper enqueued runs whose job was missing');
      },
      onError: (error) => logger.warn({ err: error }, 'sweep failed; will try again'),
    })
  : undefined;

// Redis keeps what consumers still need, not every entry ever published (stream-retention.ts),
// on the sweeper's schedule: one pass at a time.
const retention = roles.has('sweeper')
  ? streamRetention({
      db,
      redis,
      streamPrefix: settings.streamPrefix,
      keys: retentionKeys(settings.queuePrefix),
      intervalMs: config.STREAM_TRIM_INTERVAL_MS,
      settings: settings.retention ?? DEFAULT_RETENTION,
      onTrimmed: (removed) => logger.debug({ removed }, 'streams trimmed'),
    })
  : undefined;
const trimming = retention
  ? startSweeper({
      sweep: retention.pass,
      intervalMs: config.STREAM_TRIM_INTERVAL_MS,
      onError: (error) => logger.warn({ err: error }, 'stream trim failed; will try again'),
    })
  : undefined;

// Verifications the operator scheduled (verify-schedule.ts), on the sweeper role's processes.
const verifying =
  roles.has('sweeper') && config.VERIFY_SCHEDULE.length > 0
    ? startVerifySchedule({ db, redis, queues, settings, logger, schedule: config.VERIFY_SCHEDULE })
    : undefined;

// The relay gets its own connection that fails fast while Redis is down: a batch then rolls back
// and is retried, instead of waiting in an offline queue with its rows locked.
const relayRedis = roles.has('relay')
  ? createRedis(config.REDIS_URL, 'historical-sync-relay', {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
    })
  : undefined;
relayRedis?.on('error', () => {}); // reported by the relay's failed batches
const relay = relayRedis
  ? new OutboxRelay({
      db,
      databaseUrl: config.DATABASE_URL,
      redis: relayRedis,
      streamPrefix: settings.streamPrefix,
      logger: logger.child({ role: 'relay' }),
      batchSize: config.RELAY_BATCH_SIZE,
      pollIntervalMs: config.RELAY_POLL_INTERVAL_MS,
      retentionMs: config.OUTBOX_RETENTION_MS,
      onPublished: (events) => {
        heartbeat.count(events.length);
        for (const event of events) {
          const resource = resourceOfEvent(event.eventType);
          eventsPublished.inc({ resource, app: event.metadata.targetApplication, source: 'live' });
        }
      },
    })
  : undefined;
relay?.start();

// Source protection: how long pages have waited for the database they read from, and why now.
const guard = workers.sourceGuard;
new Counter({
  name: 'hs_backfill_source_throttled_seconds_total',
  help: 'Seconds pages waited because the source database was over a load threshold (summed over jobs)',
  registers: [registry],
  collect() {
    this.reset();
    this.inc(guard?.throttledSeconds ?? 0);
  },
});
new Gauge({
  name: 'hs_backfill_source_throttled',
  help: "1 while source protection slows or pauses this process's pages, else 0",
  registers: [registry],
  collect() {
    this.set(guard?.reason ? 1 : 0);
  },
});
new Gauge({
  name: 'hs_backfill_source_probe_seconds',
  help: "The latest source health probe's round trip",
  registers: [registry],
  collect() {
    this.set((guard?.lastHealth?.latencyMs ?? 0) / 1000);
  },
});
new Gauge({
  name: 'hs_backfill_source_api_delay_seconds',
  help: "The worst API process's event-loop delay (p99) at the latest probe; 0 when none reports",
  registers: [registry],
  collect() {
    this.set((guard?.lastApiHealth?.delayP99Ms ?? 0) / 1000);
  },
});

// The governor on replica lag, when pages are read from a replica (replica-guard.ts).
const replicaGuard = workers.replicaGuard;
if (replicaGuard) {
  new Gauge({
    name: 'hs_backfill_replica_lag_seconds',
    help: "How far the replica's data is behind its primary at the latest probe (0: nothing to replay)",
    registers: [registry],
    collect() {
      const lagMs = replicaGuard.lastLag?.lagMs ?? 0;
      // Nothing replayed since the replica started: behind by an unknown time, shown as -1.
      this.set(Number.isFinite(lagMs) ? lagMs / 1000 : -1);
    },
  });
  new Counter({
    name: 'hs_backfill_replica_throttled_seconds_total',
    help: "Seconds pages waited because the replica's lag was over BACKFILL_REPLICA_MAX_LAG_MS (summed over jobs)",
    registers: [registry],
    collect() {
      this.reset();
      this.inc(replicaGuard.throttledSeconds);
    },
  });
}

const metricsServer = config.WORKER_METRICS_PORT
  ? await serveMetrics(registry, config.WORKER_METRICS_PORT)
  : undefined;

onStopSignal(logger, async () => {
  await sweeper?.stop();
  await trimming?.stop();
  await verifying?.stop();
  await retention?.release();
  metricsServer?.close();
  await Promise.all([workers.close(), relay?.stop()]);
  await heartbeat.stop().catch(() => {});
  relayRedis?.disconnect();
  await queues.close();
  redis.disconnect();
  await db.destroy();
  await sourceDb?.destroy();
});

// Printed only now, with the stop-signal handlers in place: whoever waits for this line may
// signal the process from then on and get a graceful stop.
logger.info(
  { roles: config.WORKER_ROLES, concurrency: config.WORKER_CONCURRENCY },
  'worker started',
);
