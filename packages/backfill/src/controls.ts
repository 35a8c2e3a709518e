/**
 * Run controls with checked transitions:
 *   queued  -> running (a worker starts it), paused, cancelled
 *   running -> paused, completed, failed, cancelled
 *   paused  -> running / queued (resume: back to where it was), cancelled
 *   failed  -> running (its job is retried, e.g. from Bull Board), cancelled
 *   completed and cancelled are final.
 * Pause and cancel are barriers (run-barrier.ts): once they answer, no page of the run reaches a
 * stream. Workers then find out from a refused page, or from the status between pages: a paused
 * run's jobs wait (delayed) without publishing, a cancelled run's jobs stop.
 */
import type { BackfillRun, Db, RunStatus } from '@historical-sync/db';
import { ConflictError, NotFoundError } from '@historical-sync/domain';
import { sql } from 'kysely';
import { type BarrierDeps, controlStateOf, nextControlSeq, raiseRunBarrier } from './run-barrier';
import { cancelOpenPartitions, findFailedPartitionError } from './runs';

export type RunAction = 'pause' | 'resume' | 'cancel';

export const ALLOWED_FROM: Record<RunAction, RunStatus[]> = {
  pause: ['queued', 'running'],
  resume: ['paused'],
  cancel: ['queued', 'running', 'paused', 'failed'],
};

export async function controlRun(
  db: Db,
  barrier: BarrierDeps,
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
    // A resume of a run whose job failed for good while it was paused lands on failed, with
    // that job's error: it is retried like any failed run.
    const failedPartition =
      action === 'resume' ? await findFailedPartitionError(trx, runId) : undefined;
    const status: RunStatus =
      action === 'pause'
        ? 'paused'
        : action === 'cancel'
          ? 'cancelled'
          : failedPartition !== undefined
            ? 'failed'
            : run.started_at
              ? 'running'
              : 'queued';
    return setControlledStatus(
      trx,
      barrier,
      run,
      status,
      action === 'cancel' ? 'cancelled by request' : failedPartition,
    );
  });
}

/**
 * Records a control's status on a run whose row the caller's transaction has locked, and raises
 * the barrier in Redis before the caller commits (and so before anyone is answered). A cancel is
 * final: it records `reason` and the finish time.
 */
export async function setControlledStatus(
  trx: Db,
  barrier: BarrierDeps,
  run: Pick<BackfillRun, 'id' | 'app_code'>,
  status: RunStatus,
  reason?: string,
): Promise<BackfillRun> {
  const seq = await nextControlSeq(trx);
  const updated = await trx
    .updateTable('backfill_runs')
    .set({
      status,
      control_seq: sql`${seq}`,
      updated_at: sql`now()`,
      ...(status === 'cancelled' || status === 'failed'
        ? { finished_at: sql`now()`, last_error: reason ?? null }
        : {}),
    })
    .where('id', '=', run.id)
    .returningAll()
    .executeTakeFirstOrThrow();
  // A cancelled run's partitions that no job will finish (its unprocessed jobs are removed)
  // close here, so its resource rows reach a final state too.
  if (status === 'cancelled') await cancelOpenPartitions(trx, run.id);
  const resources = await trx
    .selectFrom('backfill_run_resources')
    .select('resource')
    .where('run_id', '=', run.id)
    .execute();
  await raiseRunBarrier(
    barrier,
    { id: run.id, appCode: run.app_code, resources: resources.map((r) => r.resource) },
    seq,
    controlStateOf(status),
  );
  return updated;
}

/**
 * failed -> running when a failed job is tried again, unless another of the run's jobs is still
 * failed (the run stays failed until that one is retried too). True when this call revived it.
 */
export async function reviveFailedRun(
  db: Db,
  runId: string,
  self: { resource: string; partition: number },
): Promise<boolean> {
  const result = await sql`
    UPDATE backfill_runs SET status = 'running', last_error = NULL, finished_at = NULL, updated_at = now()
    WHERE id = ${runId} AND status = 'failed'
      AND NOT EXISTS (
        SELECT 1 FROM backfill_run_partitions
        WHERE run_id = ${runId} AND status = 'failed'
          AND (resource, partition) <> (${self.resource}, ${self.partition})
      )
  `.execute(db);
  return (result.numAffectedRows ?? 0n) > 0n;
}
