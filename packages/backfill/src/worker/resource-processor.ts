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
import { waitForBacklog } from '../flow-control';
import { publishStartedMarker } from '../markers';
import { checkpointKey, publishPage, type RedisClient, readCheckpoint } from '../publisher';
import {
  countRows,
  partitionRange,
  RESOURCE_DEFINITIONS,
  type RenderedRow,
  renderPage,
} from '../resources';
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
import { throttle } from '../throttle';

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

/** How often progress is mirrored to Postgres and the job, and the run's status re-read. */
const PROGRESS_INTERVAL_MS = 250;
/** A paused run's job looks again this often. */
const PAUSED_RECHECK_MS = 1_000;

export function createResourceProcessor(deps: ProcessorDeps) {
  return async (
    job: Job<ResourceJobData>,
    token?: string,
    signal?: AbortSignal,
  ): Promise<ResourceJobResult> => {
    const data = ResourceJobData.parse(job.data);
    const { runId, tenantId, appCode, resource } = data;
    const log = deps.logger.child({ tenantId, appCode, runId, jobId: job.id, resource });
    const definition = RESOURCE_DEFINITIONS[resource];

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
    await markPartitionStarted(deps.db, ref, total, recorded.status === 'failed');

    const stream = streamName(definition.eventType, appCode, deps.settings.streamPrefix);
    const key = checkpointKey(
      stream,
      runId,
      data.partitions === 1 ? resource : `${resource}:${data.partition}of${data.partitions}`,
    );
    const run = await getRun(deps.db, runId);
    await publishStartedMarker(
      {
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
        data.partitions === 1
          ? total
          : countRows(deps.db, resource, { ...scope, range: undefined }),
    );
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
      const page = renderPage(
        deps.db,
        resource,
        { ...scope, after, limit: data.pageSize },
        context,
      );
      // Handled where it is awaited; this keeps an abandoned prefetch from being "unhandled".
      page.catch(() => {});
      return page;
    };

    // Between pages: a paused run parks the job, a cancelled one ends it here.
    const obeyRunControls = async (): Promise<ResourceJobResult | undefined> => {
      const now = await getRunStatus(deps.db, runId);
      if (now === 'paused') return waitWhilePaused(job, token);
      if (now !== 'cancelled') return undefined;
      await finishPartition(deps.db, ref, { status: 'cancelled', published: checkpoint.published });
      log.info({ published: checkpoint.published }, 'run cancelled; stopped publishing');
      return { resource, published: checkpoint.published, total, outcome: 'cancelled' };
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

      // Flow control and throttle may wait; either stops early for a pause, a cancel or a
      // shutdown, which are then handled before this page is published.
      const interrupted = async () =>
        Boolean(signal?.aborted) ||
        ['paused', 'cancelled'].includes((await getRunStatus(deps.db, runId)) ?? '');
      let waitedMs = 0;
      const bound = deps.settings.maxStreamBacklog;
      if (bound) {
        const backlogWaitMs = await waitForBacklog(deps.redis, stream, bound, interrupted);
        if (backlogWaitMs > 0)
          log.info(
            { waitedMs: backlogWaitMs, bound },
            'waited for the stream consumers to catch up',
          );
        waitedMs += backlogWaitMs;
      }
      if (maxEventsPerSecond) {
        waitedMs += await throttle(
          deps.redis,
          runId,
          events.length,
          maxEventsPerSecond,
          interrupted,
        );
      }
      if (waitedMs > 0) {
        if (signal?.aborted) return handBack(job, token, log, checkpoint);
        const stop = await obeyRunControls();
        if (stop) return stop;
      }
      const publishStarted = performance.now();
      const result = await publishPage(deps.redis, {
        checkpointKey: key,
        stream,
        expectedCursor: checkpoint.cursor,
        nextCursor: lastId,
        events,
      });
      if (!result.ok) throw new StaleCheckpointError(key, checkpoint.cursor, result.cursor);
      checkpoint = result;
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
  };
}

/** Parks the job (delayed, no attempt used) until the run is resumed or cancelled. */
async function waitWhilePaused(
  job: Job<ResourceJobData>,
  token: string | undefined,
): Promise<never> {
  await job.moveToDelayed(Date.now() + PAUSED_RECHECK_MS, token);
  throw new DelayedError();
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
