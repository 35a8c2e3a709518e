/**
 * Retry of a failed run: its failed jobs go back to their queues and resume from their Redis
 * checkpoints, so rows already published are not published again. The run is running again from
 * the moment it is retried (the worker's own revive, `reviveFailedRun`, then finds it running);
 * a job that fails again records the run failed as the first time.
 */
import { resourceJobId } from '@historical-sync/contracts';
import type { Db } from '@historical-sync/db';
import { ConflictError } from '@historical-sync/domain';
import type { Job } from 'bullmq';
import type { BackfillQueues } from './queues';
import { failRun, markRunRetried } from './run-state';
import { getTenantRun, type RunWithResources } from './runs';
import { runNotFound } from './tenants';

export async function retryRun(
  db: Db,
  queues: BackfillQueues,
  tenantId: string,
  runId: string,
): Promise<RunWithResources> {
  const run = await getTenantRun(db, tenantId, runId);
  if (!run) throw runNotFound(runId);
  if (run.status !== 'failed') throw new ConflictError(`cannot retry a ${run.status} run`);
  const failed = await failedJobs(queues, run);
  if (failed.length === 0) {
    throw new ConflictError(
      'the run has no failed job left to retry (its jobs were removed from Redis)',
    );
  }
  // failed -> running first, then the jobs: a job that fails again can only do so after this.
  if (!(await markRunRetried(db, run.id))) {
    throw new ConflictError('the run changed state meanwhile; read it again');
  }
  try {
    await Promise.all(failed.map((job) => job.retry('failed')));
  } catch (error) {
    // The jobs stay failed: so does the run, with its error, to be retried again.
    await failRun(db, run.id, run.last_error ?? 'retry failed');
    throw error;
  }
  return (await getTenantRun(db, tenantId, runId)) ?? run;
}

async function failedJobs(queues: BackfillQueues, run: RunWithResources): Promise<Job[]> {
  const jobs = await Promise.all([
    queues.runs.getJob(run.id),
    ...run.resources.flatMap(({ resource }) =>
      Array.from({ length: run.partitions }, (_, partition) =>
        queues.resources[resource].getJob(
          resourceJobId(run.id, resource, partition, run.partitions),
        ),
      ),
    ),
  ]);
  const states = await Promise.all(
    jobs.map(async (job) => (job && (await job.isFailed()) ? job : undefined)),
  );
  return states.filter((job): job is Job => job !== undefined);
}
