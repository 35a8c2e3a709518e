/**
 * Processes one resource of one run: pages its rows by keyset and publishes each page with its
 * checkpoint in one atomic call. Every attempt starts from the checkpoint in Redis, so a retry
 * after a crash continues after the last published page and publishes nothing twice.
 */
import { ResourceJobData, streamName } from '@historical-sync/contracts';
import type { Db } from '@historical-sync/db';
import { StaleCheckpointError } from '@historical-sync/domain';
import { DelayedError, type Job, UnrecoverableError, WaitingError } from 'bullmq';
import type { Logger } from 'pino';
import { reviveFailedRun } from '../controls';
import { streamBacklog } from '../flow-control';
import { publishStartedMarker } from '../markers';
import { checkpointKey, type RedisClient, readCheckpoint } from '../publisher';
import {
  countRows,
  partitionRange,
  RESOURCE_DEFINITIONS,
  type RenderedRow,
  renderPage,
} from '../resources';
import { publishThroughBarrier } from '../run-barrier';
import {
  finishPartition,
  getRun,
  getRunStatus,
  markPartitionStarted,
  markRunStarted,
  type PartitionRef,
  readPartition,
  recordPartitionProgress,
} from '../runs';
import type { BackfillSettings } from '../settings';
import { reserveRate } from '../throttle';
import { admitTenantJob, type TenantLease } from './fair-share';

export interface ProcessorDeps {
  db: Db;
  redis: RedisClient;
  settings: BackfillSettings;
  logger: Logger;
  /** Told about every published page, for the process's metrics. */
  onPagePublished?: (page: {
    resource: string;
    appCode: string;
    events: number;
    seconds: number;
  }) => void;
}

export interface ResourceJobResult {
  resource: string;
  published: number;
  total: number;
  outcome: 'completed' | 'cancelled' | 'skipped';
}

/**
 * How often progress is mirrored to Postgres and the job, and the run's status re-read. The
 * status read only makes a paused or cancelled run's job leave sooner: the barrier in the publish
 * script is what stops its pages.
 */
const PROGRESS_INTERVAL_MS = 250;
/**
 * A paused run's job looks again this often on its own; a resume promotes it at once
 * (`BackfillQueues.wakeRun`), so this only bounds the cost of a long pause.
 */
const PAUSED_RECHECK_MS = 30_000;
/** A lagging consumer group's stream is looked at again this often by a parked job. */
const BACKLOG_RECHECK_MS = 1_000;
/** The longest wait for the rate limit spent inside the job; longer ones park it. */
const WAIT_IN_JOB_MS = 1_000;
/** A job's hold on its tenant's share of a queue lasts this long unless renewed as it works. */
const TENANT_LEASE_MS = 15_000;

export function createResourceProcessor(deps: ProcessorDeps) {
  return async (
    job: Job<ResourceJobData>,
    token?: string,
    signal?: AbortSignal,
  ): Promise<ResourceJobResult> => {
    const data = ResourceJobData.parse(job.data);
    const { runId, tenantId, appCode, resource } = data;
    const log = deps.logger.child({ tenantId, appCode, runId, jobId: job.id, resource });

    const status = await getRunStatus(deps.db, runId);
    // A failed run's jobs still publish (a retried one, or one that had not started yet); the run
    // is running again once none of its jobs is failed any more.
    if (status === 'failed' && (await reviveFailedRun(deps.db, runId, data))) {
      log.info('failed run retried: resuming from its checkpoint');
    }
    if (status === 'paused') return waitWhilePaused(job, token);
    const ref: PartitionRef = { runId, resource, partition: data.partition };
    if (status !== 'queued' && status !== 'running' && status !== 'failed') {
      // A job cancelled while it waited for its turn (or a pause to end) closes its partition.
      if (status === 'cancelled') {
        const partition = await readPartition(deps.db, ref);
        if (partition.status !== 'completed' && partition.status !== 'cancelled') {
          await finishPartition(deps.db, ref, {
            status: 'cancelled',
            published: partition.published,
          });
        }
      }
      log.info({ status }, 'run is not active; nothing to publish');
      return { resource, published: 0, total: 0, outcome: 'skipped' };
    }
    // One job per tenant in this queue while other tenants wait; the others come back shortly.
    const admission = await admitTenantJob(deps.redis, job, token, tenantId, TENANT_LEASE_MS);
    if ('retryInMs' in admission) return park(job, token, admission.retryInMs);
    const { lease } = admission;
    try {
      return await publishPartition(deps, { job, token, signal, data, log, lease });
    } finally {
      await lease.release().catch(() => {}); // the lease expires on its own
    }
  };
}

interface PartitionJob {
  job: Job<ResourceJobData>;
  token: string | undefined;
  signal: AbortSignal | undefined;
  data: ResourceJobData;
  log: Logger;
  lease: TenantLease;
}

/** Publishes the partition's pages from its checkpoint until it is done or has to leave. */
async function publishPartition(
  deps: ProcessorDeps,
  { job, token, signal, data, log, lease }: PartitionJob,
): Promise<ResourceJobResult> {
  const { runId, tenantId, appCode, resource } = data;
  const definition = RESOURCE_DEFINITIONS[resource];
  const ref: PartitionRef = { runId, resource, partition: data.partition };
  if (await markRunStarted(deps.db, runId)) {
    log.info(`Starting historical sync for tenant ${tenantId}, application ${appCode}`);
  }

  const scope = {
    tenantId,
    appCode,
    sinceDate: data.sinceDate,
    range: partitionRange(data.partition, data.partitions),
  };
  const recorded = await readPartition(deps.db, ref);
  // Counted once per partition: a job resuming (after a crash, a hand-back or its turn) reuses it.
  const total = recorded.total ?? (await countRows(deps.db, resource, scope));
  await lease.renew(); // counting a large partition may take a while
  await markPartitionStarted(deps.db, ref, total, recorded.status === 'failed');

  const stream = streamName(definition.eventType, appCode, deps.settings.streamPrefix);
  const key = checkpointKey(
    stream,
    runId,
    data.partitions === 1 ? resource : `${resource}:${data.partition}of${data.partitions}`,
  );
  const run = await getRun(deps.db, runId);
  const markerGate = await publishStartedMarker(
    {
      db: deps.db,
      redis: deps.redis,
      streamPrefix: deps.settings.streamPrefix,
      tenantId,
      appCode,
      runId,
      resources: run?.resources.map((r) => r.resource) ?? [resource],
    },
    resource,
    // The marker counts the whole resource, not just this partition.
    async () =>
      data.partitions === 1 ? total : countRows(deps.db, resource, { ...scope, range: undefined }),
  );
  if (markerGate === 'paused') return waitWhilePaused(job, token);
  if (markerGate === 'cancelled') return stopCancelled(deps, ref, recorded.published, log, total);
  let checkpoint = await readCheckpoint(deps.redis, key);
  if (checkpoint.cursor) log.info({ checkpoint }, 'resuming after the last published page');
  else if (recorded.published > 0) {
    // Pages were published but the checkpoint is gone (Redis lost data, or it expired):
    // starting over would publish them twice. A new run is the way forward.
    throw new UnrecoverableError(
      `checkpoint ${key} is missing although pages were published; start a new sync`,
    );
  }
  const context = { tenantId, appCode, runId };
  const fetchPage = (after: string) => {
    const page = renderPage(deps.db, resource, { ...scope, after, limit: data.pageSize }, context);
    // Handled where it is awaited; this keeps an abandoned prefetch from being "unhandled".
    page.catch(() => {});
    return page;
  };

  // Between pages: a paused run parks the job, a cancelled one ends it here.
  const obeyRunControls = async (): Promise<ResourceJobResult | undefined> => {
    const now = await getRunStatus(deps.db, runId);
    if (now === 'paused') return waitWhilePaused(job, token);
    if (now !== 'cancelled') return undefined;
    return stopCancelled(deps, ref, checkpoint.published, log, total);
  };
  const maxEventsPerSecond = run?.max_events_per_second ?? null;
  const slice = deps.settings.timeSliceMs;
  let turnEndsAt = slice > 0 ? Date.now() + slice : 0;
  let lastReport = 0;
  let next = fetchPage(checkpoint.cursor);
  for (;;) {
    const rows: RenderedRow[] = await next;
    const lastRow = rows[rows.length - 1];
    if (!lastRow) break;
    const lastId = lastRow.id;
    // Read the next page while this one is published.
    next = rows.length < data.pageSize ? Promise.resolve([]) : fetchPage(lastId);

    const events = rows.map((row) => row.event);
    checkPage(rows, definition, resource);

    // Flow control and the rate limit wait in the job only briefly; a longer wait parks the job
    // (delayed, no attempt used) so it holds no worker slot, and it resumes from its checkpoint.
    const bound = deps.settings.maxStreamBacklog;
    if (bound && (await streamBacklog(deps.redis, stream)) > bound) {
      log.info({ bound }, 'waiting for the stream consumers to catch up');
      return park(job, token, BACKLOG_RECHECK_MS);
    }
    if (maxEventsPerSecond) {
      const waitMs = await reserveRate(deps.redis, runId, events.length, maxEventsPerSecond, {
        maxWaitMs: WAIT_IN_JOB_MS,
      });
      if (waitMs > WAIT_IN_JOB_MS) return park(job, token, waitMs);
      if (waitMs > 0) await new Promise((resolve) => setTimeout(resolve, waitMs));
    }
    if (signal?.aborted) return handBack(job, token, log, checkpoint);
    const publishStarted = performance.now();
    const result = await publishThroughBarrier(deps.db, deps.redis, {
      runId,
      checkpointKey: key,
      stream,
      expectedCursor: checkpoint.cursor,
      nextCursor: lastId,
      events,
    });
    if (result.outcome === 'paused') {
      await recordPartitionProgress(deps.db, ref, checkpoint.published);
      return waitWhilePaused(job, token);
    }
    if (result.outcome === 'cancelled') {
      return stopCancelled(deps, ref, checkpoint.published, log, total);
    }
    // A checkpoint already at this page's end means the page is out: the client resent the
    // call after a reconnect, or a worker that took the job over published the same page.
    // Either way nothing is published twice, and this attempt goes on from there.
    if (result.outcome === 'stale' && result.cursor !== lastId) {
      throw new StaleCheckpointError(key, checkpoint.cursor, result.cursor);
    }
    checkpoint = { cursor: result.cursor, published: result.published };
    deps.onPagePublished?.({
      resource,
      appCode,
      events: events.length,
      seconds: (performance.now() - publishStarted) / 1000,
    });

    if (signal?.aborted) {
      await recordPartitionProgress(deps.db, ref, checkpoint.published);
      return handBack(job, token, log, checkpoint);
    }

    if (turnEndsAt && Date.now() >= turnEndsAt) {
      if (await othersWaiting(deps.redis, job)) {
        await Promise.all([
          job.updateProgress({ published: checkpoint.published, total }),
          recordPartitionProgress(deps.db, ref, checkpoint.published),
        ]);
        return yieldTurn(job, token, log, checkpoint);
      }
      // Nobody waits: another turn, asked again when it is over (not after every page).
      turnEndsAt = Date.now() + slice;
    }

    if (Date.now() - lastReport >= PROGRESS_INTERVAL_MS) {
      lastReport = Date.now();
      await Promise.all([
        job.updateProgress({ published: checkpoint.published, total }),
        recordPartitionProgress(deps.db, ref, checkpoint.published),
        lease.renew(),
      ]);
      const stop = await obeyRunControls();
      if (stop) return stop;
    }
  }

  await job.updateProgress({ published: checkpoint.published, total });
  await finishPartition(deps.db, ref, {
    status: 'completed',
    published: checkpoint.published,
  });
  log.info({ published: checkpoint.published, total }, `${resource} published`);
  return { resource, published: checkpoint.published, total, outcome: 'completed' };
}

/** Parks the job (delayed, no attempt used) until the run is resumed or cancelled. */
function waitWhilePaused(job: Job<ResourceJobData>, token: string | undefined): Promise<never> {
  return park(job, token, PAUSED_RECHECK_MS);
}

/**
 * Gives the worker slot back for `delayMs`: the job becomes delayed (no attempt used) and its
 * next turn resumes from the checkpoint.
 */
async function park(
  job: Job<ResourceJobData>,
  token: string | undefined,
  delayMs: number,
): Promise<never> {
  await job.moveToDelayed(Date.now() + Math.max(0, Math.ceil(delayMs)), token);
  throw new DelayedError();
}

/** The run was cancelled: the partition is closed where its checkpoint stands. */
async function stopCancelled(
  deps: ProcessorDeps,
  ref: PartitionRef,
  published: number,
  log: Logger,
  total: number,
): Promise<ResourceJobResult> {
  await finishPartition(deps.db, ref, { status: 'cancelled', published });
  log.info({ published }, 'run cancelled; stopped publishing');
  return { resource: ref.resource, published, total, outcome: 'cancelled' };
}

/**
 * Validation where it pays at this rate: the page's first event against the whole contract (the
 * rendering's shape), every row's data-dependent fields against their part of the contract. A
 * row that fails cannot be fixed by retrying: the run fails with a reason a person can act on.
 */
function checkPage(
  rows: RenderedRow[],
  definition: (typeof RESOURCE_DEFINITIONS)[keyof typeof RESOURCE_DEFINITIONS],
  resource: string,
): void {
  const fail = (row: RenderedRow, issue: { path: PropertyKey[]; message: string } | undefined) => {
    throw new UnrecoverableError(
      `${resource} row ${row.id} is not a valid ${definition.eventType} event: ` +
        `${issue?.path.join('.')}: ${issue?.message}`,
    );
  };
  for (const row of rows) {
    // Postgres renders a timestamp it cannot write as ISO-8601 (infinite, or outside the years
    // 0001-9999) as NULL, and with it the whole event.
    if (typeof row.event !== 'string') {
      fail(row, {
        path: ['timestamps'],
        message: 'a timestamp of the row is infinite or outside the years 0001-9999',
      });
    }
    const checked = definition.rowSchema?.safeParse(row);
    if (checked && !checked.success) fail(row, checked.error.issues[0]);
  }
  const first = rows[0];
  if (!first) return;
  const full = definition.schema.safeParse(JSON.parse(first.event));
  if (!full.success) fail(first, full.error.issues[0]);
}

/**
 * Whether other jobs wait in this job's queue. Read from the queue's wait list directly: one
 * LLEN, asked only when a turn is over.
 */
async function othersWaiting(redis: RedisClient, job: Job): Promise<boolean> {
  return (await redis.llen(`${job.queueQualifiedName}:wait`)) > 0;
}

/**
 * Fairness: the job goes to the back of its queue (a delayed job due now is promoted behind the
 * jobs already waiting; no attempt used) and resumes from its checkpoint at its next turn, so a
 * big tenant's backfill cannot hold a worker while small tenants wait.
 */
async function yieldTurn(
  job: Job<ResourceJobData>,
  token: string | undefined,
  log: Logger,
  checkpoint: { cursor: string; published: number },
): Promise<never> {
  await job.moveToDelayed(Date.now(), token);
  log.debug({ checkpoint }, 'turn over: back of the queue while other jobs wait');
  throw new DelayedError();
}

/**
 * The process is stopping: hand the job back between pages (no attempt used up); the next
 * worker to take it resumes after the last page published.
 */
async function handBack(
  job: Job<ResourceJobData>,
  token: string | undefined,
  log: Logger,
  checkpoint: { cursor: string; published: number },
): Promise<never> {
  await job.moveToWait(token);
  log.info({ checkpoint }, 'stopping: job handed back after the current page');
  throw new WaitingError();
}
