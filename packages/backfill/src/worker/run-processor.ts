/**
 * The parent job of a run: BullMQ runs it once every resource job has completed, so it marks the
 * run completed and logs the summary.
 */
import { RunJobData } from '@historical-sync/contracts';
import { DelayedError, type Job } from 'bullmq';
import { publishCompletedMarkers } from '../publish/markers';
import { controlStateOf, nextControlSeq, raiseRunBarrier } from '../publish/run-barrier';
import { completeRun, isFinalRunStatus } from '../runs/run-state';
import { getRun, type RunWithResources } from '../runs/runs';
import type { ProcessorDeps } from './partition-job';

/** A run paused after its last page looks again this often (a resume promotes it at once). */
const PAUSED_RECHECK_MS = 30_000;

export function createRunProcessor(deps: ProcessorDeps) {
  return async (job: Job<RunJobData>, token?: string) => {
    const { runId, tenantId, appCode } = RunJobData.parse(job.data);
    const log = deps.logger.child({ tenantId, appCode, runId, jobId: job.id });
    const run = await getRun(deps.db, runId);
    if (!run) throw new Error(`run ${runId} not found`);
    const counts = Object.fromEntries(run.resources.map((r) => [r.resource, r.published]));
    // Every resource job has completed (that is when BullMQ runs this), so the run is complete
    // unless someone cancelled it: a pause or a failure recorded meanwhile is moot now.
    if (isFinalRunStatus(run.status)) {
      log.info({ status: run.status, counts }, 'run already finished');
      return { status: run.status, counts };
    }
    // Markers first: a retry after a crash here publishes the missing ones, never twice.
    const gate = await publishCompletedMarkers(
      {
        db: deps.db,
        redis: deps.redis,
        streamPrefix: deps.settings.streamPrefix,
        tenantId,
        appCode,
        runId,
        resources: run.resources.map((r) => r.resource),
      },
      counts,
    );
    // Paused after its last page: the run completes once resumed. Cancelled: it never does.
    if (gate === 'paused' && token) {
      await job.moveToDelayed(Date.now() + PAUSED_RECHECK_MS, token);
      throw new DelayedError();
    }
    if (gate) {
      log.info({ gate, counts }, 'run stopped before its completion markers');
      return { status: gate, counts };
    }
    if (!(await completeAndClose(deps, run))) {
      log.info({ counts }, 'run finished meanwhile');
      return { status: 'finished', counts };
    }
    const durationMs = run.started_at ? Date.now() - run.started_at.getTime() : null;
    log.info(
      { counts, durationMs },
      `✅ Historical sync completed for tenant ${tenantId}, application ${appCode}`,
    );
    return { status: 'completed', counts };
  };
}

/**
 * Completes the run and closes its control keys in one transaction: once the run reads completed,
 * no page of it reaches a stream, not even one held by a worker that stalled past its lock and
 * follows its successor. Redis not answering rolls the completion back; the job is tried again
 * (its markers are out already, so only this is repeated).
 */
async function completeAndClose(deps: ProcessorDeps, run: RunWithResources): Promise<boolean> {
  return deps.db.transaction().execute(async (trx) => {
    // The guarded UPDATE decides (and locks the row until the keys are closed); a number taken
    // for a run that was no longer completable is skipped, as numbers of rolled-back controls are.
    const seq = await nextControlSeq(trx);
    if (!(await completeRun(trx, run.id, seq))) return false;
    await raiseRunBarrier(
      { redis: deps.redis, streamPrefix: deps.settings.streamPrefix },
      { id: run.id, appCode: run.app_code, resources: run.resources.map((r) => r.resource) },
      seq,
      controlStateOf('completed'),
    );
    return true;
  });
}
