/**
 * The sweeper role's verification schedule (VERIFY_SCHEDULE, docs/VERIFY.md): passes on the
 * sweeper's timer (one at a time, the next an interval after the previous ended), each verifying
 * the due tenants one at a time (verifyScheduledPass). A stop lets the verification in flight end
 * and starts no other: one cut off would hold its tenant's one running verification until it is
 * taken for abandoned.
 */
import {
  type BackfillQueues,
  type BackfillSettings,
  type RedisClient,
  type ScheduledApplication,
  type ScheduledOutcome,
  schedulePassIntervalMs,
  unknownScheduledApplications,
  verifyScheduledPass,
} from '@historical-sync/backfill';
import type { Db } from '@historical-sync/db';
import type { createLogger } from '@historical-sync/runtime';
import { type Sweeper, startSweeper } from './sweeper';

type Logger = ReturnType<typeof createLogger>;

/** The settings error for scheduled applications the database does not know; null when none. */
export async function scheduleMismatch(
  db: Db,
  schedule: readonly ScheduledApplication[],
): Promise<string | null> {
  const unknown = await unknownScheduledApplications(db, schedule);
  if (unknown.length === 0) return null;
  const known = await db.selectFrom('applications').select('code').orderBy('code').execute();
  return `invalid setting VERIFY_SCHEDULE: no application ${unknown.map((c) => `"${c}"`).join(', ')} (known: ${known.map((a) => a.code).join(', ')})`;
}

export function startVerifySchedule(deps: {
  db: Db;
  redis: RedisClient;
  queues: BackfillQueues;
  settings: BackfillSettings;
  logger: Logger;
  schedule: readonly ScheduledApplication[];
}): Sweeper {
  let stopping = false;
  const log = deps.logger.child({ role: 'verify-schedule' });
  const sweeper = startSweeper({
    intervalMs: schedulePassIntervalMs(deps.schedule),
    sweep: async () => {
      const outcomes = await verifyScheduledPass(
        { ...deps, logger: log, stopping: () => stopping },
        deps.schedule,
      );
      for (const outcome of outcomes) logOutcome(log, outcome);
    },
    onError: (error) =>
      log.warn({ err: error }, 'verification schedule pass failed; will try again'),
  });
  return {
    async stop() {
      stopping = true;
      await sweeper.stop();
    },
  };
}

/** One line per scheduled verification: the tenant, the application, what differed, the repair. */
function logOutcome(log: Logger, outcome: ScheduledOutcome) {
  const { tenantId, appCode } = outcome;
  if (outcome.outcome === 'skipped') {
    log.debug(
      { tenantId, appCode },
      'scheduled verification skipped: the tenant is being verified',
    );
  } else if (outcome.outcome === 'error') {
    log.warn({ err: outcome.error, tenantId, appCode }, 'scheduled verification failed');
  } else {
    const { verificationId, status, differences, error, repair } = outcome.verification;
    const fields = {
      tenantId,
      appCode,
      verificationId,
      status,
      differences,
      repairRunId: outcome.repairRunId,
      ...(repair ? { unrepaired: repair.unrepaired, forgotten: repair.forgotten } : {}),
      ...(error ? { error } : {}),
    };
    if (status === 'failed') log.warn(fields, 'scheduled verification failed');
    else log.info(fields, 'scheduled verification');
  }
}
