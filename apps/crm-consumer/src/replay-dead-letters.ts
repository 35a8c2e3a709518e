/**
 * `npm run replay-dead-letters -w @historical-sync/crm-consumer`: replays the CRM's dead-letter
 * stream after a fix, with the consumer's own configuration (CRM_DATABASE_URL, REDIS_URL,
 * STREAM_PREFIX, CRM_APP_CODE). Prints one JSON line; exits 1 while some entries still fail.
 */
import { createPool } from '@historical-sync/db';
import { createLogger, createRedis } from '@historical-sync/runtime';
import { Kysely, PostgresDialect } from 'kysely';
import { deadLetterStream, loadConfig } from './config';
import { replayCrmDeadLetters } from './replay';
import { reportRun } from './run-report';
import type { CrmDatabase } from './schema';

const config = loadConfig();
const logger = createLogger('crm-replay', config.LOG_LEVEL);
const db = new Kysely<CrmDatabase>({
  dialect: new PostgresDialect({
    pool: createPool({ connectionString: config.CRM_DATABASE_URL, maxConnections: 2 }),
  }),
});
// Fail fast rather than wait for a Redis that is not there: a person is waiting for the answer.
const redis = createRedis(config.REDIS_URL, 'historical-sync-crm-replay', {
  maxRetriesPerRequest: 1,
});
let exitCode = 0;
try {
  const result = await replayCrmDeadLetters({
    db,
    redis,
    deadLetterStream: deadLetterStream(config),
    appCode: config.CRM_APP_CODE,
  });
  for (const run of result.runStates) reportRun(logger, run);
  for (const failure of result.failed) logger.error(failure, 'dead letter still fails; kept');
  console.log(
    JSON.stringify({
      replayed: result.replayed,
      stillFailing: result.failed.length,
      completedRuns: result.runStates.filter((r) => r.newlyCompleted).map((r) => r.runId),
    }),
  );
  if (result.failed.length > 0) exitCode = 1;
} catch (error) {
  logger.error({ err: error }, 'replay failed');
  exitCode = 1;
} finally {
  redis.disconnect();
  await db.destroy();
}
process.exit(exitCode);
