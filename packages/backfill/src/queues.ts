/**
 * The BullMQ side of a run (DESIGN.md decisions 1 and 2): one flow per run, its parent job id
 * being the run id, with one child per selected resource on that resource's own queue.
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
import type { RedisClient } from './publisher';
import { findSweepableRuns, getRun, type RunWithResources } from './runs';

const DAY_S = 24 * 3600;
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
    this.resources = {
      credits: new Queue(RESOURCE_QUEUES.credits, { connection, prefix }),
      organizations: new Queue(RESOURCE_QUEUES.organizations, { connection, prefix }),
      memberships: new Queue(RESOURCE_QUEUES.memberships, { connection, prefix }),
    };
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
        removeOnComplete: { age: 7 * DAY_S },
        removeOnFail: { age: 30 * DAY_S },
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
            removeOnComplete: { age: 7 * DAY_S },
            removeOnFail: { age: 30 * DAY_S },
          },
        })),
      ),
    });
    return true;
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.flow.close(), ...this.all().map((q) => q.close())]);
  }
}

/**
 * Enqueues after the response, never failing the caller: if Redis is unreachable the run stays
 * `queued` in Postgres and the sweeper enqueues it later.
 */
export function enqueueInBackground(
  queues: BackfillQueues,
  run: RunWithResources,
  logger: Pick<Logger, 'warn'>,
): void {
  queues.enqueueRun(run).catch((error: unknown) => {
    logger.warn({ err: error, runId: run.id }, 'enqueue failed; the sweeper will retry the run');
  });
}

/**
 * Gives every active run whose job is missing from Redis its flow again: a run whose enqueue
 * failed (Redis was down at the toggle), or whose jobs Redis lost (a restart without AOF, a
 * flush). Its resource jobs resume from their checkpoints; a job whose pages were published but
 * whose checkpoint is gone fails the run loudly instead of publishing twice. Returns how many
 * runs were enqueued.
 */
export async function sweepRuns(
  db: Db,
  queues: BackfillQueues,
  olderThanMs: number,
): Promise<number> {
  let enqueued = 0;
  for (const stale of await findSweepableRuns(db, olderThanMs)) {
    // Most active runs have their job: one lookup, and the run is read only when it is missing.
    if (await queues.runs.getJob(stale.id)) continue;
    const run = await getRun(db, stale.id);
    if (run && (await queues.enqueueRun(run))) enqueued += 1;
  }
  return enqueued;
}
