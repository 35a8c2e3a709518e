/**
 * Starts the BullMQ workers of a process: any subset of the run queue and the resource queues, so
 * each kind can be scaled on its own (docs/decisions/0002-separate-resource-jobs.md).
 */
import {
  RESOURCE_QUEUES,
  type Resource,
  type ResourceJobData,
  RUNS_QUEUE,
  type RunJobData,
} from '@historical-sync/contracts';
import { isConnectionError } from '@historical-sync/db';
import { StaleCheckpointError } from '@historical-sync/domain';
import { DelayedError, type Job, UnrecoverableError, Worker } from 'bullmq';
import { ApiHealthReader } from '../pacing/api-health';
import { ReplicaGuard } from '../pacing/replica-guard';
import { SourceGuard } from '../pacing/source-guard';
import { failRun, finishPartition } from '../runs/run-state';
import type { ProcessorDeps } from './partition-job';
import { createResourceProcessor } from './resource-processor';
import { createRunProcessor } from './run-processor';

export interface WorkerOptions {
  /** Which queues this process serves. */
  queues: ReadonlyArray<'runs' | Resource>;
  /** Jobs processed at once per queue. */
  concurrency: number;
  /** How long a job's lock lasts without renewal: the time before a dead worker's job is retaken. */
  lockDurationMs: number;
  /** How often stalled jobs (lock expired) are looked for. */
  stalledIntervalMs: number;
}

export interface BackfillWorkers {
  workers: Worker[];
  /** The process's source protection, when on: its state for the process's metrics. */
  sourceGuard: SourceGuard | undefined;
  /** The governor on the replica's lag, when pages are read from a replica and it is on. */
  replicaGuard: ReplicaGuard | undefined;
  /** Stops taking jobs, waits for the current ones, closes the workers; safe to call twice. */
  close(): Promise<void>;
}

export function startBackfillWorkers(
  baseDeps: ProcessorDeps,
  options: WorkerOptions,
): BackfillWorkers {
  const { settings, sourceDb } = baseDeps;
  const protection = settings.sourceProtection;
  // Source protection probes the database the pages load: the replica when they are read there.
  const sourceGuard = protection
    ? new SourceGuard(
        sourceDb ?? baseDeps.db,
        protection,
        new ApiHealthReader(baseDeps.redis, settings.queuePrefix),
      )
    : undefined;
  const replicaGuard =
    sourceDb && settings.replicaLag
      ? new ReplicaGuard(baseDeps.db, sourceDb, settings.replicaLag)
      : undefined;
  const deps: ProcessorDeps = { ...baseDeps, sourceGuard, replicaGuard };
  const common = {
    connection: deps.redis,
    prefix: deps.settings.queuePrefix,
    concurrency: options.concurrency,
    lockDuration: options.lockDurationMs,
    stalledInterval: options.stalledIntervalMs,
    // A stalled job is retaken (that is how a killed worker's job resumes) rather than failed.
    maxStalledCount: 1_000,
  };
  const workers: Worker[] = [];

  if (options.queues.includes('runs')) {
    workers.push(
      new Worker<RunJobData>(RUNS_QUEUE, withFaultHandling(deps, createRunProcessor(deps)), common),
    );
  }
  const processResource = withFaultHandling(deps, createResourceProcessor(deps));
  for (const resource of Object.keys(RESOURCE_QUEUES) as Resource[]) {
    if (!options.queues.includes(resource)) continue;
    const worker = new Worker<ResourceJobData>(RESOURCE_QUEUES[resource], processResource, common);
    worker.on('failed', (job, error) => {
      if (job) void onResourceFailed(deps, job, error);
    });
    workers.push(worker);
  }
  for (const worker of workers) {
    worker.on('error', (error) =>
      deps.logger.error({ err: error, queue: worker.name }, 'worker error'),
    );
  }

  let closing: Promise<void> | undefined;
  return {
    workers,
    sourceGuard,
    replicaGuard,
    close: () => {
      sourceGuard?.stop();
      replicaGuard?.stop();
      // Abort running jobs first: each stops after its current page instead of running to the end.
      for (const worker of workers) worker.cancelAllJobs('process stopping');
      closing ??= Promise.allSettled(workers.map((w) => w.close())).then(() => undefined);
      return closing;
    },
  };
}

/** How long a job waits for an unreachable Postgres before it tries again. */
const POSTGRES_RETRY_MS = 2_000;

/**
 * Faults of the surroundings rather than of the job. Postgres unreachable (a restart, a failover):
 * the job waits for it, delayed, without using up an attempt, so an outage longer than the retry
 * backoff does not fail the run (nor leave it "running" with no job, since recording the failure
 * needs Postgres too). A stale checkpoint: another worker owns the job now; BullMQ then reports
 * only the lost lock, so say why this attempt stopped.
 */
function withFaultHandling<D extends RunJobData, R>(
  deps: ProcessorDeps,
  processor: (job: Job<D>, token?: string, signal?: AbortSignal) => Promise<R>,
) {
  return async (job: Job<D>, token?: string, signal?: AbortSignal): Promise<R> => {
    try {
      return await processor(job, token, signal);
    } catch (error) {
      const { tenantId, appCode, runId } = job.data;
      const log = deps.logger.child({ tenantId, appCode, runId, jobId: job.id });
      if (error instanceof StaleCheckpointError) {
        log.warn(
          { err: error },
          'checkpoint moved on: another worker owns this job; this attempt published nothing and stops',
        );
      } else if (isConnectionError(error) && token) {
        log.warn(
          { err: error, retryInMs: POSTGRES_RETRY_MS },
          'no Postgres connection: the job retries shortly without using an attempt',
        );
        await job.moveToDelayed(Date.now() + POSTGRES_RETRY_MS, token);
        throw new DelayedError();
      }
      throw error;
    }
  };
}

/** After the last attempt (or an error no retry can fix) the run fails with the reason. */
async function onResourceFailed(deps: ProcessorDeps, job: Job<ResourceJobData>, error: Error) {
  const { runId, tenantId, appCode, resource, partition = 0 } = job.data;
  const log = deps.logger.child({ tenantId, appCode, runId, jobId: job.id, resource });
  const final = error instanceof UnrecoverableError || job.attemptsMade >= (job.opts.attempts ?? 1);
  // Another worker owns the job now and carries on; but a job that has failed for good (its
  // last attempt, whatever the error) fails its run, which would otherwise stay running.
  if (error instanceof StaleCheckpointError && !final) return;
  if (!final) {
    log.warn({ err: error, attempt: job.attemptsMade }, 'resource job failed; it will be retried');
    return;
  }
  try {
    const progress = job.progress as { published?: number } | undefined;
    await finishPartition(deps.db, { runId, resource, partition }, 'fail', {
      published: progress?.published ?? 0,
      error: error.message,
    });
    // A paused run stays paused (its barrier holds); its resume finds the failed partition and
    // moves it to failed then (controls.ts).
    await failRun(deps.db, runId, `${resource}: ${error.message}`);
    log.error(
      { err: error },
      `Historical sync failed for tenant ${tenantId}, application ${appCode}: ${error.message}`,
    );
  } catch (recordError) {
    log.error({ err: recordError }, 'could not record the failed run');
  }
}
