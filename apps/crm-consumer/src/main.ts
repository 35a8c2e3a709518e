/** The CRM consumer process: migrates its own database, then projects the crm streams into it. */

import { StreamConsumer } from '@historical-sync/consumer';
import { applicationStreams } from '@historical-sync/contracts';
import { createPool, runMigrations } from '@historical-sync/db';
import {
  createLogger,
  createRedis,
  loadSettingsOrExit,
  onStopSignal,
  probeRedis,
  requireReachable,
} from '@historical-sync/runtime';
import { Kysely, PostgresDialect, sql } from 'kysely';
import { crmMigrations } from '../migrations/index';
import { loadConfig } from './config';
import { applyEvent } from './projection';
import type { CrmDatabase } from './schema';

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
  {
    service: 'Postgres',
    setting: 'CRM_DATABASE_URL',
    url: config.CRM_DATABASE_URL,
    probe: () => sql`SELECT 1`.execute(db),
  },
  {
    service: 'Redis',
    setting: 'REDIS_URL',
    url: config.REDIS_URL,
    probe: () => probeRedis(config.REDIS_URL),
  },
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
  maxDeliveries: config.CRM_MAX_DELIVERIES,
  deadLetterStream: `${config.STREAM_PREFIX}${config.CRM_APP_CODE}:dead-letter`,
  handler: async (event) => {
    const outcome = await applyEvent(db, event, config.CRM_APP_CODE);
    counts[outcome.kind] += 1;
    if (
      outcome.kind === 'marker' &&
      outcome.runCompletedAt &&
      event.eventType === 'sync.completed'
    ) {
      logger.info(
        { tenantId: event.tenantId, runId: event.runId, counts: event.counts },
        `CRM in sync for tenant ${event.tenantId} since ${outcome.runCompletedAt.toISOString()}`,
      );
    }
  },
  hooks: {
    onDeadLetter: (entry) => logger.warn(entry, 'entry moved to the dead-letter stream'),
    onError: (error) => logger.warn({ err: error }, 'consumer error'),
  },
});
await consumer.start();
const report = setInterval(() => logger.info({ counts }, 'crm projection progress'), 30_000);

onStopSignal(logger, async () => {
  clearInterval(report);
  await consumer.stop();
  redis.disconnect();
  await db.destroy();
});
logger.info(
  { group: config.CRM_CONSUMER_GROUP, consumer: config.CRM_CONSUMER_NAME },
  'crm consumer started',
);
