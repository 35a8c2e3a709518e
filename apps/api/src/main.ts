/** The API process: config, connections, listen, graceful stop. */
import { hostname } from 'node:os';
import {
  BackfillQueues,
  backfillSettingsFrom,
  startApiHealthPublisher,
  tenantQuotasFrom,
} from '@historical-sync/backfill';
import { createDb, poolOf } from '@historical-sync/db';
import {
  createLogger,
  createRedis,
  loadSettingsOrExit,
  onStopSignal,
  postgresCheck,
  redisCheck,
  requireReachable,
} from '@historical-sync/runtime';
import { sql } from 'kysely';
import { buildApp } from './app';
import { DEV_ADMIN_API_KEY, loadConfig } from './config';

const config = loadSettingsOrExit('api', loadConfig);
const logger = createLogger('api', config.LOG_LEVEL);
const db = createDb({
  connectionString: config.DATABASE_URL,
  applicationName: 'historical-sync-api',
});
// Counts (dry runs, sync-status) read the replica when there is one: the primary serves writes.
const countsUrl = config.BACKFILL_DATABASE_URL;
const countsDb = countsUrl
  ? createDb({ connectionString: countsUrl, applicationName: 'historical-sync-api-counts' })
  : undefined;
await requireReachable('api', [
  postgresCheck('DATABASE_URL', config.DATABASE_URL, () => sql`SELECT 1`.execute(db)),
  ...(countsUrl && countsDb
    ? [postgresCheck('BACKFILL_DATABASE_URL', countsUrl, () => sql`SELECT 1`.execute(countsDb))]
    : []),
  redisCheck(config.REDIS_URL),
]);
const redis = createRedis(config.REDIS_URL, 'historical-sync-api');
const settings = backfillSettingsFrom(config);
const queues = new BackfillQueues(redis, settings.queuePrefix);
const app = await buildApp({
  db,
  ...(countsDb ? { countsDb } : {}),
  redis,
  queues,
  settings,
  logger,
  adminApiKey: config.ADMIN_API_KEY,
  bodyLimitBytes: config.BODY_LIMIT_BYTES,
  rateLimitPerMinute: config.RATE_LIMIT_PER_MINUTE,
  liveStreamsPerKey: config.LIVE_STREAMS_PER_KEY,
  dryRunLimits: { perTenant: config.DRY_RUNS_PER_TENANT, total: config.DRY_RUNS_MAX },
  verifyAnswerTimeoutMs: config.VERIFY_ANSWER_TIMEOUT_MS,
  verifyMaxConcurrent: config.VERIFY_MAX_CONCURRENT,
  apiKeyCacheMs: config.API_KEY_CACHE_MS,
  failedAuthPerMinute: config.FAILED_AUTH_PER_MINUTE,
  trustProxy: config.TRUST_PROXY,
  tenantQuotas: tenantQuotasFrom(config),
  bullBoardWritable: config.BULL_BOARD_WRITABLE,
  requestLogLevel: config.REQUEST_LOG_LEVEL,
  ...(config.CONSOLE_DIR ? { consoleDir: config.CONSOLE_DIR } : {}),
});

// Source protection: this process's event-loop delay, read by the workers' guards, which slow a
// backfill while the API runs late (the API comes first).
const health =
  settings.sourceProtection?.apiLagMs || settings.sourceProtection?.apiDbQueue
    ? startApiHealthPublisher({
        redis,
        pool: poolOf(db),
        prefix: settings.queuePrefix,
        id: `${hostname()}:${process.pid}`,
        onError: (error) => logger.debug({ err: error }, 'health not written; next one retries'),
      })
    : undefined;

onStopSignal(logger, async () => {
  await health?.stop();
  await app.close(); // stops accepting, lets in-flight requests finish
  await queues.close();
  redis.disconnect();
  await db.destroy();
  await countsDb?.destroy();
});

const address = await app.listen({ port: config.PORT, host: config.HOST });
if (config.ADMIN_API_KEY === DEV_ADMIN_API_KEY) {
  // loadConfig refused it on any other address.
  logger.warn('ADMIN_API_KEY is the development default, accepted on loopback only');
}
logger.info(
  {
    address,
    adminApiKey: config.ADMIN_API_KEY === DEV_ADMIN_API_KEY ? DEV_ADMIN_API_KEY : '(set)',
  },
  `API listening on ${address}`,
);
