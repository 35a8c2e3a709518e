/**
 * The CRM consumer process: migrates its own database, then projects the crm streams into it and
 * answers the system's verification requests from it.
 */

import { StreamConsumer, startVerifyResponder } from '@historical-sync/consumer';
import { startDedupePruning } from '@historical-sync/consumer/postgres';
import { applicationStreams } from '@historical-sync/contracts';
import { createPool, runMigrations } from '@historical-sync/db';
import {
  createLogger,
  createRedis,
  loadSettingsOrExit,
  onStopSignal,
  postgresCheck,
  redisCheck,
  requireReachable,
} from '@historical-sync/runtime';
import { Kysely, PostgresDialect, sql } from 'kysely';
import { crmMigrations } from '../migrations/index';
import { deadLetterStream, loadConfig } from './config';
import { progressReporter } from './progress-log';
import { applyEvent } from './projection';
import { REPLAY_COMMAND, reportRun } from './run-report';
import type { CrmDatabase } from './schema';
import { crmForgetRows, crmVerifyRows } from './verify';

const config = loadSettingsOrExit('crm-consumer', loadConfig);
const logger = createLogger('crm-consumer', config.LOG_LEVEL);
const db = new Kysely<CrmDatabase>({
  dialect: new PostgresDialect({
    pool: createPool({
      connectionString: config.CRM_DATABASE_URL,
      maxConnections: config.CRM_CONCURRENCY + 2,
      applicationName: 'historical-sync-crm',
    }),
  }),
});
await requireReachable('crm-consumer', [
  postgresCheck('CRM_DATABASE_URL', config.CRM_DATABASE_URL, () => sql`SELECT 1`.execute(db)),
  redisCheck(config.REDIS_URL),
]);
await runMigrations(db, crmMigrations);
const redis = createRedis(config.REDIS_URL, 'historical-sync-crm');
const counts = { applied: 0, stale: 0, duplicate: 0, ignored: 0, marker: 0 };

const consumer = new StreamConsumer({
  redis,
  streams: applicationStreams(config.CRM_APP_CODE, config.STREAM_PREFIX),
  group: config.CRM_CONSUMER_GROUP,
  consumer: config.CRM_CONSUMER_NAME,
  concurrency: config.CRM_CONCURRENCY,
  batchSize: config.CRM_BATCH_SIZE,
  claimIdleMs: config.CRM_CLAIM_IDLE_MS,
  claimIntervalMs: config.CRM_CLAIM_INTERVAL_MS,
  maxDeliveries: config.CRM_MAX_DELIVERIES,
  outageMaxDelayMs: config.CRM_OUTAGE_MAX_BACKOFF_MS,
  deadLetterStream: deadLetterStream(config),
  handler: async (event, context) => {
    const outcome = await applyEvent(db, event, config.CRM_APP_CODE, context.deadLettered);
    counts[outcome.kind] += 1;
    if (outcome.kind === 'marker') reportRun(logger, outcome.run);
  },
  hooks: {
    onDeadLetter: (entry) =>
      logger.error(
        entry,
        `entry moved to the dead-letter stream; after a fix, replay it with \`${REPLAY_COMMAND}\``,
      ),
    onError: (error) => logger.warn({ err: error }, 'consumer error'),
    // Conflicts are routine under concurrency (a serialization failure, a deadlock, a lock or
    // statement timeout): tried again at once at no delivery's cost, so not worth a warning. One
    // that persists becomes an outage, which is.
    onRetry: ({ stream, id, error, attempt }) =>
      logger.debug({ err: error, stream, id, attempt }, 'entry tried again after a conflict'),
    onOutage: (error) =>
      logger.warn(
        { err: error },
        'a dependency is unreachable: taking no entries, retrying with backoff',
      ),
    onRecovered: ({ durationMs }) =>
      logger.info({ durationMs }, `dependency back after ${Math.round(durationMs)} ms; resuming`),
    // A stream deleted or a group detached under a running CRM: the group comes back at the
    // start id and the stream's entries are read again (applying by version makes that safe).
    onGroupRecreated: ({ stream, group }) =>
      logger.warn({ stream, group }, 'consumer group was gone; created it again'),
  },
});
await consumer.start();
const pruning = startDedupePruning({
  db,
  table: 'crm_processed_events',
  retentionMs: config.CRM_DEDUPE_RETENTION_MS,
  intervalMs: config.CRM_DEDUPE_PRUNE_INTERVAL_MS,
  onPruned: (deleted) => logger.debug({ deleted }, 'pruned dedupe ids past their retention'),
  // While the database is down this fails like the handlers; the consumer reports that outage.
  onError: (error) => logger.debug({ err: error }, 'dedupe prune failed; trying again later'),
});
// Verification reads the same database the projection writes: what it proves is what the CRM
// holds, not what it was sent.
const verifier = startVerifyResponder({
  redis,
  appCode: config.CRM_APP_CODE,
  streamPrefix: config.STREAM_PREFIX,
  consumerName: config.CRM_CONSUMER_NAME,
  rows: crmVerifyRows(db),
  forget: crmForgetRows(db),
  hooks: {
    onError: (error) => logger.warn({ err: error }, 'verification error'),
    onMalformed: (entry) => logger.warn(entry, 'malformed verification request dropped'),
    onExpired: (request) => logger.info(request, 'verification request past its deadline skipped'),
    onAnswered: (answer) => logger.debug(answer, 'verification request answered'),
  },
});
const report = setInterval(
  progressReporter(counts, (now) => logger.info({ counts: now }, 'crm projection progress')),
  30_000,
);

onStopSignal(logger, async () => {
  clearInterval(report);
  await pruning.stop();
  await verifier.stop();
  await consumer.stop();
  redis.disconnect();
  await db.destroy();
});
logger.info(
  { group: config.CRM_CONSUMER_GROUP, consumer: config.CRM_CONSUMER_NAME },
  'crm consumer started',
);
