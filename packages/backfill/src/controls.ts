/**
 * Run controls with checked transitions:
 *   queued  -> running (a worker starts it), paused, cancelled
 *   running -> paused, completed, failed, cancelled
 *   paused  -> running / queued (resume: back to where it was), cancelled
 *   failed  -> running (its job is retried, e.g. from Bull Board), cancelled
 *   completed and cancelled are final.
 * Workers read the status between pages: a paused run's jobs wait (delayed) without publishing,
 * a cancelled run's jobs stop.
 */
import type { BackfillRun, Db, RunStatus } from '@historical-sync/db';
import { ConflictError, NotFoundError } from '@historical-sync/domain';
import { sql } from 'kysely';

export type RunAction = 'pause' | 'resume' | 'cancel';

const ALLOWED_FROM: Record<RunAction, RunStatus[]> = {
  pause: ['queued', 'running'],
  resume: ['paused'],
  cancel: ['queued', 'running', 'paused', 'failed'],
};

export async function controlRun(
  db: Db,
  tenantId: string,
  runId: string,
  action: RunAction,
): Promise<BackfillRun> {
  return db.transaction().execute(async (trx) => {
    const run = await trx
      .selectFrom('backfill_runs')
      .selectAll()
      .where('id', '=', runId)
      .where('tenant_id', '=', tenantId)
      .forUpdate()
      .executeTakeFirst();
    if (!run) throw new NotFoundError(`run ${runId} not found`, 'runId');
    if (!ALLOWED_FROM[action].includes(run.status)) {
      throw new ConflictError(`cannot ${action} a ${run.status} run`);
    }
    const status: RunStatus =
      action === 'pause'
        ? 'paused'
        : action === 'cancel'
          ? 'cancelled'
          : run.started_at
            ? 'running'
            : 'queued';
    return trx
      .updateTable('backfill_runs')
      .set({
        status,
        updated_at: sql`now()`,
        ...(action === 'cancel'
          ? { finished_at: sql`now()`, last_error: 'cancelled by request' }
          : {}),
      })
      .where('id', '=', runId)
      .returningAll()
      .executeTakeFirstOrThrow();
  });
}

/** failed -> running when one of its jobs is tried again; true when the run is (now) running. */
export async function reviveFailedRun(db: Db, runId: string): Promise<boolean> {
  const result = await db
    .updateTable('backfill_runs')
    .set({ status: 'running', last_error: null, finished_at: null, updated_at: sql`now()` })
    .where('id', '=', runId)
    .where('status', '=', 'failed')
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}
