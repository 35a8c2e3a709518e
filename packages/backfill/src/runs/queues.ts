/**
 * The BullMQ side of a run (docs/decisions/0001-one-durable-job-per-enablement.md,
 * docs/decisions/0002-separate-resource-jobs.md): one flow per run, its parent job id being the run
 * id, with one child per selected resource on that resource's own queue.
 */
import {
  RESOURCE_QUEUES,
  RESOURCES,
  type Resource,
  type ResourceJobData,
  RUNS_QUEUE,
  type RunJobData,
  resourceJobId,
} from '@historical-sync/contracts';
import type { Db } from '@historical-sync/db';
import { FlowProducer, Queue } from 'bullmq';
import type { Logger } from 'pino';
import type { RedisClient } from '../publish/publisher';
import { pruneVerifications } from '../verify/verification';
import { findSweepableRuns, getRun, pruneFinishedPartitions, type RunWithResources } from './runs';

const DAY_S = 24 * 3600;
/**
 * Finished jobs kept in Redis, per queue: by age for people looking at them (Bull Board), and by
 * count, so that Redis memory stays bounded however many runs tenants start and cancel. Failed
 * jobs are kept longer: retrying one resumes its run from its checkpoints.
 */
const KEEP_COMPLETED = { age: 7 * DAY_S, count: 5_000 };
const KEEP_FAILED = { age: 30 * DAY_S, count: 5_000 };
/** Attempts per resource job; each retry resumes from the checkpoint, so retrying is cheap. */
export const RESOURCE_JOB_ATTEMPTS = 5;

export class BackfillQueues {
  readonly runs: Queue<RunJobData>;
  readonly resources: Record<Resource, Queue<ResourceJobData>>;
  private readonly flow: FlowProducer;

  constructor(
    connection: RedisClient,
    readonly prefix: string,
  ) {
    this.runs = new Queue(RUNS_QUEUE, { connection, prefix });
    this.resources = Object.fromEntries(
      RESOURCES.map((resource) => [
        resource,
        new Queue<ResourceJobData>(RESOURCE_QUEUES[resource], { connection, prefix }),
      ]),
    ) as Record<Resource, Queue<ResourceJobData>>;
    this.flow = new FlowProducer({ connection, prefix });
  }

  all(): Queue[] {
    return [this.runs, ...RESOURCES.map((r) => this.resources[r])];
  }

  /** Adds the run's flow unless its parent job exists already (then this is a no-op). */
  async enqueueRun(run: RunWithResources): Promise<boolean> {
    if (await this.runs.getJob(run.id)) return false;
    const base: RunJobData = { runId: run.id, tenantId: run.tenant_id, appCode: run.app_code };
    await this.flow.add({
      name: 'run',
      queueName: RUNS_QUEUE,
      data: base,
      opts: {
        jobId: run.id,
        // Completing a run (markers, then the row) is safe to repeat: retry it through blips.
        attempts: RESOURCE_JOB_ATTEMPTS,
        backoff: { type: 'exponential', delay: 1_000 },
        removeOnComplete: KEEP_COMPLETED,
        removeOnFail: KEEP_FAILED,
      },
      children: run.resources.flatMap(({ resource }) =>
        Array.from({ length: run.partitions }, (_, partition) => ({
          name: resource,
          queueName: RESOURCE_QUEUES[resource],
          data: {
            ...base,
            resource,
            sinceDate: run.since_date,
            pageSize: run.page_size,
            partition,
            partitions: run.partitions,
          } satisfies ResourceJobData,
          opts: {
            jobId: resourceJobId(run.id, resource, partition, run.partitions),
            attempts: RESOURCE_JOB_ATTEMPTS,
            backoff: { type: 'exponential', delay: 1_000 },
            // No failParentOnFailure: after a child's last attempt the parent keeps waiting, so
            // retrying the failed child (e.g. from Bull Board) resumes it and then completes the run.
            removeOnComplete: KEEP_COMPLETED,
            removeOnFail: KEEP_FAILED,
          },
        })),
      ),
    });
    return true;
  }

  /**
   * Removes a cancelled run's jobs that no worker holds, so a run cancelled right after it
   * started leaves nothing behind in Redis. A job in a worker's hands finishes on its own (the
   * barrier stops its pages) and then the parent with it, kept only as long as finished jobs are.
   */
  async discardRun(runId: string): Promise<void> {
    const parent = await this.runs.getJob(runId);
    if (!parent) return;
    await parent.removeUnprocessedChildren();
    await this.runs.remove(runId, { removeChildren: true });
  }

  /**
   * After a resume: the run's parked jobs (delayed) go back to their queues now rather than
   * when their pause check is due.
   */
  async wakeRun(run: RunWithResources): Promise<void> {
    const jobs = [
      this.runs.getJob(run.id),
      ...run.resources.flatMap(({ resource }) =>
        Array.from({ length: run.partitions }, (_, partition) =>
          this.resources[resource].getJob(
            resourceJobId(run.id, resource, partition, run.partitions),
          ),
        ),
      ),
    ];
    await Promise.all(
      jobs.map(async (found) => {
        const job = await found;
        // Promoting a job that left the delayed set meanwhile fails harmlessly.
        if (job && (await job.isDelayed())) await job.promote().catch(() => {});
      }),
    );
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.flow.close(), ...this.all().map((q) => q.close())]);
  }
}

/**
 * Enqueues after the response, never failing the caller: if Redis is unreachable the run stays
 * `queued` in Postgres and the sweeper enqueues it later.
 */
/**
 * After a cancel has committed, before it answers: the run's unprocessed jobs leave Redis. The
 * barrier already stops the run, so a failure here is only logged (the jobs then end as skipped).
 */
export async function discardCancelledRun(
  queues: BackfillQueues,
  runId: string,
  logger: Pick<Logger, 'warn'>,
): Promise<void> {
  await queues.discardRun(runId).catch((error: unknown) => {
    logger.warn({ err: error, runId }, "could not remove the cancelled run's jobs");
  });
}

export function enqueueInBackground(
  queues: BackfillQueues,
  run: RunWithResources,
  logger: Pick<Logger, 'warn'>,
): void {
  queues.enqueueRun(run).catch((error: unknown) => {
    logger.warn({ err: error, runId: run.id }, 'enqueue failed; the sweeper will retry the run');
  });
}

/** Active runs the sweeper reads per query: bounds its memory, not how many runs it visits. */
const SWEEP_PAGE_SIZE = 1_000;

/** How long a finished run's partition rows stay; later only its resource rows do. */
const PARTITIONS_KEPT_MS = 3_600_000;

/**
 * Prunes the partition rows of runs finished over an hour ago and verifications older than 30 days
 * (each application's latest kept), then gives every active run whose
 * job is missing from Redis its flow again: a run whose enqueue failed (Redis was down at the
 * toggle), or whose jobs Redis lost (a restart without AOF, a flush). Its resource jobs resume from their checkpoints; a job whose pages were published but
 * whose checkpoint is gone fails the run loudly instead of publishing twice. Every active run is
 * visited on every sweep, a page at a time. Returns how many runs were enqueued.
 */
export async function sweepRuns(
  db: Db,
  queues: BackfillQueues,
  olderThanMs: number,
): Promise<number> {
  await pruneFinishedPartitions(db, PARTITIONS_KEPT_MS);
  await pruneVerifications(db);
  let enqueued = 0;
  // Every active run, a page at a time: a run whose enqueue was lost must be found even behind
  // thousands of older parked or long runs, or it would stay queued and hold its tenant's slot.
  let after: Parameters<typeof findSweepableRuns>[2] = null;
  do {
    const page = await findSweepableRuns(db, olderThanMs, after, SWEEP_PAGE_SIZE);
    // Most active runs have their job: one lookup each (pipelined on the connection), and a run
    // is read only when its job is missing.
    const jobs = await Promise.all(page.runs.map((stale) => queues.runs.getJob(stale.id)));
    for (const [i, stale] of page.runs.entries()) {
      if (jobs[i]) continue;
      const run = await getRun(db, stale.id);
      if (run && (await queues.enqueueRun(run))) enqueued += 1;
    }
    after = page.next;
  } while (after);
  return enqueued;
}
