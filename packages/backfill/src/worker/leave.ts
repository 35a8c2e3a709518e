/**
 * How a resource job leaves its partition: completed, stopped by a cancel, or giving its worker
 * slot back (paused, parked, its turn over, the process stopping) to resume from its checkpoint.
 */
import { DelayedError, WaitingError } from 'bullmq';
import { finishPartition, type RunStatus, recordPartitionProgress } from '../runs/run-state';
import type { PartitionJob, Progress, ResourceJobResult } from './partition-job';

export type Exit =
  /** The last page is out. */
  | { kind: 'complete' }
  /** The run was cancelled: the partition closes where its checkpoint stands. */
  | { kind: 'cancelled' }
  /** The run is paused: the job waits, delayed, until a resume promotes it. */
  | { kind: 'paused' }
  /** A wait too long to spend holding a worker slot (flow control, rate limit, fair share). */
  | { kind: 'park'; delayMs: number }
  /** The turn is over and other jobs wait: back of the queue. */
  | { kind: 'yield' }
  /** The process is stopping: the job goes back to the wait list. */
  | { kind: 'handBack' };

/**
 * A paused run's job looks again this often on its own; a resume promotes it at once
 * (`BackfillQueues.wakeRun`), so this only bounds the cost of a long pause.
 */
const PAUSED_RECHECK_MS = 30_000;

/**
 * Leaves as `exit` says. Whatever the way out, the progress not yet mirrored to Postgres and the
 * job is mirrored first, so the status shows where the job stopped. Resolves only for the ways
 * that end the job; the others throw BullMQ's DelayedError / WaitingError (the job was moved).
 */
export async function leave(
  pj: PartitionJob,
  progress: Progress,
  exit: Exit,
): Promise<ResourceJobResult> {
  const { log, ref } = pj;
  const { published } = progress.checkpoint;
  switch (exit.kind) {
    case 'complete':
      await pj.job.updateProgress({ published, total: progress.total });
      await finishPartition(pj.deps.db, ref, 'complete', { published });
      log.info({ published, total: progress.total }, `${ref.resource} published`);
      return { resource: ref.resource, published, total: progress.total, outcome: 'completed' };
    case 'cancelled':
      await finishPartition(pj.deps.db, ref, 'stop', { published });
      // Its barrier is closed: the run was cancelled, or completed by a worker that took this job
      // over while this one was stalled.
      log.info({ published }, 'run ended (cancelled, or completed elsewhere); stopped publishing');
      return { resource: ref.resource, published, total: progress.total, outcome: 'cancelled' };
    case 'paused':
      if (published > progress.mirrored) await mirrorProgress(pj, progress);
      return park(pj, PAUSED_RECHECK_MS);
    case 'park':
      if (published > progress.mirrored) await mirrorProgress(pj, progress);
      return park(pj, exit.delayMs);
    case 'yield':
      if (published > progress.mirrored) await mirrorProgress(pj, progress);
      // A delayed job due now is promoted behind the jobs already waiting; no attempt used.
      await pj.job.moveToDelayed(Date.now(), pj.token);
      log.debug(
        { checkpoint: progress.checkpoint },
        'turn over: back of the queue while other jobs wait',
      );
      throw new DelayedError();
    case 'handBack':
      if (published > progress.mirrored) await mirrorProgress(pj, progress);
      await pj.job.moveToWait(pj.token);
      log.info(
        { checkpoint: progress.checkpoint },
        'stopping: job handed back after the current page',
      );
      throw new WaitingError();
  }
}

/**
 * Mirrors the checkpoint's count to Postgres (for the status endpoint) and to the job (Bull
 * Board), and answers the run's status as of that write.
 */
export async function mirrorProgress(
  pj: PartitionJob,
  progress: Progress,
): Promise<RunStatus | undefined> {
  const { published } = progress.checkpoint;
  const [, status] = await Promise.all([
    pj.job.updateProgress({ published, total: progress.total }),
    recordPartitionProgress(pj.deps.db, pj.ref, published),
  ]);
  progress.mirrored = Math.max(progress.mirrored, published);
  return status;
}

/**
 * Gives the worker slot back for `delayMs`: the job becomes delayed (no attempt used) and its
 * next turn resumes from the checkpoint.
 */
export async function park(pj: PartitionJob, delayMs: number): Promise<never> {
  await pj.job.moveToDelayed(Date.now() + Math.max(0, Math.ceil(delayMs)), pj.token);
  throw new DelayedError();
}

/** Parks the job until the run is resumed (which promotes it) or cancelled. */
export const parkWhilePaused = (pj: PartitionJob): Promise<never> => park(pj, PAUSED_RECHECK_MS);
