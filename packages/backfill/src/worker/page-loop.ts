/**
 * The partition's pages, from its checkpoint on: each page checked, paced (source protection,
 * Redis's memory, rate limit), published with its checkpoint in one atomic call through the run's
 * barrier (which also refuses it while the stream's consumers are behind: flow control), then the
 * turn, the process and the run's controls asked whether to go on. Returns how to leave.
 */
import { EVENT_FIELD } from '@historical-sync/contracts';
import { StaleCheckpointError } from '@historical-sync/domain';
import type { Job } from 'bullmq';
import { notePublished, ratio, redisMemory } from '../pacing/redis-memory';
import { reserveRate } from '../pacing/throttle';
import { type RenderedPage, renderPageCommands } from '../publish/page-commands';
import type { RedisClient } from '../publish/publisher';
import { publishThroughBarrier } from '../publish/run-barrier';
import { xaddPrefix } from '../redis/resp';
import { memoryHighRatioOf } from '../settings';
import { checkPage } from './check-page';
import { type Exit, mirrorProgress } from './leave';
import type { PartitionJob, PreparedPartition } from './partition-job';
import { waitForReplica, waitForSource } from './source-wait';

/**
 * How often progress is mirrored to Postgres and the job, and the run's status re-read. The
 * status read only makes a paused or cancelled run's job leave sooner: the barrier in the page
 * transaction is what stops its pages.
 */
const PROGRESS_INTERVAL_MS = 250;
/** A lagging consumer group's stream is looked at again this often by a parked job. */
const BACKLOG_RECHECK_MS = 1_000;
/** A job parked for Redis's memory looks again this often (the trim runs every few seconds). */
const MEMORY_RECHECK_MS = 1_000;
/** The longest wait for the rate limit spent inside the job; longer ones park it. */
const WAIT_IN_JOB_MS = 1_000;

export async function publishPages(
  pj: PartitionJob,
  partition: PreparedPartition,
  signal: AbortSignal | undefined,
): Promise<Exit> {
  // A replica is read only once it holds everything the run must publish.
  const behind = await waitForReplica(pj);
  if (behind) return behind;
  const turnOver = turnClock(pj.deps.settings.timeSliceMs);
  let lastReport = 0;
  for await (const page of pagesFrom(pj, partition)) {
    checkPage(page, pj.data.resource, partition.scope);
    const wait = await pace(pj, partition, page.rows);
    if (wait) return wait;
    if (signal?.aborted) return { kind: 'handBack' };
    const stopped = await publish(pj, partition, page);
    if (stopped) return stopped;
    if (signal?.aborted) return { kind: 'handBack' };
    if (turnOver() && (await othersWaiting(pj.deps.redis, pj.job))) return { kind: 'yield' };
    if (Date.now() - lastReport >= PROGRESS_INTERVAL_MS) {
      lastReport = Date.now();
      const [status] = await Promise.all([
        mirrorProgress(pj, partition.progress),
        partition.lease.renew(),
      ]);
      // Between pages: a paused run parks the job, a cancelled one ends it here.
      if (status === 'paused') return { kind: 'paused' };
      if (status === 'cancelled') return { kind: 'cancelled' };
    }
  }
  return { kind: 'complete' };
}

/**
 * Keyset pages after the checkpoint, from the replica when there is one (the primary otherwise);
 * the next page is read while the current one is published.
 */
async function* pagesFrom(
  pj: PartitionJob,
  partition: PreparedPartition,
): AsyncGenerator<RenderedPage> {
  const db = pj.deps.sourceDb ?? pj.deps.db;
  const { pageSize, tenantId, appCode, runId } = pj.data;
  const prefix = xaddPrefix(partition.stream, EVENT_FIELD);
  const fetchPage = (after: string) => {
    const page = renderPageCommands(
      db,
      pj.data.resource,
      { ...partition.scope, after, limit: pageSize },
      { tenantId, appCode, runId },
      prefix,
    );
    // Handled where it is awaited; this keeps an abandoned prefetch from being "unhandled".
    page.catch(() => {});
    return page;
  };
  let next = fetchPage(partition.progress.checkpoint.cursor);
  for (;;) {
    const page = await next;
    if (!page) return;
    next = page.rows < pageSize ? Promise.resolve(null) : fetchPage(page.lastId);
    yield page;
  }
}

/**
 * Source protection, the replica's lag, Redis's memory and the rate limit wait in the job only
 * briefly; a longer wait parks the job (delayed, no attempt used) so it holds no worker slot, and
 * it resumes from its checkpoint.
 */
async function pace(
  pj: PartitionJob,
  partition: PreparedPartition,
  events: number,
): Promise<Exit | undefined> {
  const { redis, settings, sourceGuard, replicaGuard } = pj.deps;
  const governors = [sourceGuard, replicaGuard].filter((g) => g !== undefined);
  if (governors.length) {
    const exit = await waitForSource(pj, governors);
    if (exit) return exit;
  }
  // Flow control on the stream's consumer groups is checked inside the page's transaction
  // (publish below), in the same round trip as its watched keys.
  const memoryHigh = memoryHighRatioOf(settings);
  if (memoryHigh) {
    const memory = await redisMemory(redis);
    if (ratio(memory) > memoryHigh) {
      pj.log.info(memory, "waiting for Redis's memory to be trimmed below its high mark");
      return { kind: 'park', delayMs: MEMORY_RECHECK_MS };
    }
  }
  if (partition.maxEventsPerSecond) {
    const waitMs = await reserveRate(redis, pj.data.runId, events, partition.maxEventsPerSecond, {
      maxWaitMs: WAIT_IN_JOB_MS,
    });
    if (waitMs > WAIT_IN_JOB_MS) return { kind: 'park', delayMs: waitMs };
    if (waitMs > 0) await new Promise((resolve) => setTimeout(resolve, waitMs));
  }
  return undefined;
}

/**
 * Publishes the page and its checkpoint in one call through the run's barrier, and moves the
 * progress on. Returns how to leave when the barrier refused the page.
 */
async function publish(
  pj: PartitionJob,
  partition: PreparedPartition,
  page: RenderedPage,
): Promise<Exit | undefined> {
  const { progress } = partition;
  const lastId = page.lastId;
  const publishStarted = performance.now();
  const result = await publishThroughBarrier(pj.deps.db, pj.deps.redis, {
    runId: pj.data.runId,
    checkpointKey: partition.checkpointKey,
    stream: partition.stream,
    expectedCursor: progress.checkpoint.cursor,
    nextCursor: lastId,
    commands: page.commands,
    events: page.rows,
    maxBacklog: pj.deps.settings.maxStreamBacklog,
  });
  if (result.outcome === 'paused' || result.outcome === 'cancelled') {
    return { kind: result.outcome };
  }
  if (result.outcome === 'backlog') {
    // Nothing of the page went out; the job comes back to it from its checkpoint.
    pj.log.info(
      { bound: pj.deps.settings.maxStreamBacklog, backlog: result.backlog },
      'waiting for the stream consumers to catch up',
    );
    return { kind: 'park', delayMs: BACKLOG_RECHECK_MS };
  }
  // A checkpoint already at this page's end means the page is out: the client resent the
  // call after a reconnect, or a worker that took the job over published the same page.
  // Either way nothing is published twice, and this attempt goes on from there.
  if (result.outcome === 'stale' && result.cursor !== lastId) {
    throw new StaleCheckpointError(
      partition.checkpointKey,
      progress.checkpoint.cursor,
      result.cursor,
    );
  }
  progress.checkpoint = { cursor: result.cursor, published: result.published };
  // The next page's memory check counts these bytes before Redis is read again.
  notePublished(pj.deps.redis, page.commands.length);
  pj.deps.onPagePublished?.({
    resource: pj.data.resource,
    appCode: pj.data.appCode,
    events: page.rows,
    seconds: (performance.now() - publishStarted) / 1000,
  });
  return undefined;
}

/**
 * Fairness: a turn lasts `sliceMs` (0: forever). Once over, the job yields if others wait in its
 * queue; if none do, another turn starts, asked again when it is over (not after every page).
 */
function turnClock(sliceMs: number): () => boolean {
  let endsAt = sliceMs > 0 ? Date.now() + sliceMs : 0;
  return () => {
    if (!endsAt || Date.now() < endsAt) return false;
    endsAt = Date.now() + sliceMs;
    return true;
  };
}

/**
 * Whether other jobs wait in this job's queue. Read from the queue's wait list directly: one
 * LLEN, asked only when a turn is over.
 */
async function othersWaiting(redis: RedisClient, job: Job): Promise<boolean> {
  return (await redis.llen(`${job.queueQualifiedName}:wait`)) > 0;
}
