/**
 * The worker process: backfill workers for the configured queues, and the sweeper that enqueues
 * runs whose first enqueue failed. SIGTERM stops taking jobs and waits for the current pages.
 */
import {
  BackfillQueues,
  backfillSettingsFrom,
  startBackfillWorkers,
  sweepQueuedRuns,
} from '@historical-sync/backfill';
import { createDb } from '@historical-sync/db';
import { createLogger, createRedis, onStopSignal } from '@historical-sync/runtime';
import { loadConfig } from './config';

const config = loadConfig();
const logger = createLogger('worker', config.LOG_LEVEL);
const db = createDb({
  connectionString: config.DATABASE_URL,
  applicationName: 'historical-sync-worker',
});
const redis = createRedis(config.REDIS_URL, 'historical-sync-worker');
const settings = backfillSettingsFrom(config);
const queues = new BackfillQueues(redis, settings.queuePrefix);

const workers = startBackfillWorkers(
  { db, redis, settings, logger },
  {
    queues: config.WORKER_QUEUES,
    concurrency: config.WORKER_CONCURRENCY,
    lockDurationMs: config.WORKER_LOCK_DURATION_MS,
    stalledIntervalMs: config.WORKER_STALLED_INTERVAL_MS,
  },
);

const sweeper = setInterval(() => {
  sweepQueuedRuns(db, queues, config.SWEEP_QUEUED_AFTER_MS).then(
    (enqueued) => enqueued && logger.info({ enqueued }, 'sweeper enqueued queued runs'),
    (error: unknown) => logger.warn({ err: error }, 'sweep failed; will try again'),
  );
}, config.SWEEP_INTERVAL_MS);

onStopSignal(logger, async () => {
  clearInterval(sweeper);
  await workers.close();
  await queues.close();
  redis.disconnect();
  await db.destroy();
});

logger.info(
  { queues: config.WORKER_QUEUES, concurrency: config.WORKER_CONCURRENCY },
  'worker started',
);
