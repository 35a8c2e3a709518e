/**
 * Run controls (pause, resume, cancel) and the disable's cancel: each a transition of
 * run-state.ts, recorded in the caller's transaction together with its barrier. Pause and cancel
 * are barriers (run-barrier.ts): once they answer, no page of the run reaches a stream. Workers
 * then find out from a refused page, or from the status between pages: a paused run's jobs wait
 * (delayed) without publishing, a cancelled run's jobs stop.
 */
import type { RunControl } from '@historical-sync/contracts';
import type { BackfillRun, Db } from '@historical-sync/db';
import { ConflictError } from '@historical-sync/domain';
import {
  type BarrierDeps,
  type BarrierRun,
  controlStateOf,
  nextControlSeq,
  openRunBarrier,
  raiseRunBarrier,
  stateBeforeCommit,
} from '../publish/run-barrier';
import {
  applyControl,
  type ControlTransitionName,
  canTransition,
  controlTarget,
  findFailedPartitionError,
} from './run-state';
import { runNotFound } from './tenants';

const CONTROL_REASON: Partial<Record<ControlTransitionName, string>> = {
  cancel: 'cancelled by request',
  disable: 'application disabled',
};

export async function controlRun(
  db: Db,
  barrier: BarrierDeps,
  tenantId: string,
  runId: string,
  /** A retry is no control: the retried job makes it (run-state.ts `retry`, `revive`). */
  action: RunControl,
): Promise<BackfillRun> {
  const { run, barrierRun } = await db.transaction().execute(async (trx) => {
    const locked = await trx
      .selectFrom('backfill_runs')
      .selectAll()
      .where('id', '=', runId)
      .where('tenant_id', '=', tenantId)
      .forUpdate()
      .executeTakeFirst();
    if (!locked) throw runNotFound(runId);
    if (!canTransition(action, locked.status)) {
      throw new ConflictError(`cannot ${action} a ${locked.status} run`);
    }
    return recordControl(trx, barrier, locked, action);
  });
  // Committed: a resume opens the keys it wrote closed. Should Redis not answer now, the run's
  // workers open them when they meet them, so the resume stands (run-barrier.ts).
  if (controlStateOf(run.status) === 'open') {
    await openRunBarrier(barrier, barrierRun, Number(run.control_seq));
  }
  return run;
}

/**
 * Records a control on a run whose row the caller's transaction has locked (and checked), and
 * raises the barrier in Redis before the caller commits (and so before anyone is answered). A
 * control that leaves the run able to publish (a resume) writes its keys closed: the caller opens
 * them once committed (openRunBarrier with `barrierRun` and the run's `control_seq`).
 */
export async function recordControl(
  trx: Db,
  barrier: BarrierDeps,
  run: Pick<BackfillRun, 'id' | 'app_code' | 'started_at'>,
  name: ControlTransitionName,
): Promise<{ run: BackfillRun; barrierRun: BarrierRun }> {
  // A resume of a run whose job failed for good while it was paused lands on failed, with
  // that job's error: it is retried like any failed run.
  const failedPartition =
    name === 'resume' ? await findFailedPartitionError(trx, run.id) : undefined;
  const status = controlTarget(name, run, failedPartition);
  const seq = await nextControlSeq(trx);
  const updated = await applyControl(trx, run.id, name, status, {
    controlSeq: seq,
    reason: CONTROL_REASON[name] ?? failedPartition,
  });
  if (!updated) throw new ConflictError(`cannot ${name} run ${run.id} in its current status`);
  const resources = await trx
    .selectFrom('backfill_run_resources')
    .select('resource')
    .where('run_id', '=', run.id)
    .execute();
  const barrierRun = {
    id: run.id,
    appCode: run.app_code,
    resources: resources.map((r) => r.resource),
  };
  await raiseRunBarrier(barrier, barrierRun, seq, stateBeforeCommit(controlStateOf(status)));
  return { run: updated, barrierRun };
}
