/**
 * The page loop's hook into source protection (source-guard.ts): before each page, wait as the
 * process's guard advises, and keep the resource's status saying why.
 */
import type { SourceGuard } from '../source-guard';
import type { Exit } from './leave';
import type { PartitionJob, PreparedPartition } from './partition-job';

/** The longest pause spent inside the job; a longer one parks it (no worker slot held). */
const PAUSE_IN_JOB_MS = 1_000;
/** A reason that only changed its figures is written again at most this often. */
const STATUS_REFRESH_MS = 1_000;

interface Recorded {
  /** undefined: not written by this attempt yet (an earlier one may have left a reason). */
  reason: string | null | undefined;
  at: number;
}
const recorded = new WeakMap<PreparedPartition, Recorded>();

export async function waitForSource(
  pj: PartitionJob,
  partition: PreparedPartition,
  guard: SourceGuard,
): Promise<Exit | undefined> {
  const started = performance.now();
  // Counted as each wait ends, so the throttled time grows during a long pause too.
  const wait = async (ms: number) => {
    const from = performance.now();
    await sleep(ms);
    guard.recordWait(performance.now() - from);
  };
  let advice = guard.advise();
  while (advice.kind === 'pause') {
    await recordThrottle(pj, partition, advice.reason);
    if (performance.now() - started >= PAUSE_IN_JOB_MS) {
      pj.log.info({ reason: advice.reason }, 'source under load: pages paused');
      return { kind: 'park', delayMs: guard.settings.probeIntervalMs * 4 };
    }
    await wait(guard.settings.probeIntervalMs);
    advice = guard.advise();
  }
  if (advice.kind === 'slow') {
    await recordThrottle(pj, partition, advice.reason);
    await wait(advice.delayMs);
  } else {
    await recordThrottle(pj, partition, null);
  }
  return undefined;
}

/**
 * Writes why the resource is throttled (null: it is not) when that changed: at once between
 * throttled and not, at most once a second when only the figures in the reason moved.
 */
async function recordThrottle(
  pj: PartitionJob,
  partition: PreparedPartition,
  reason: string | null,
): Promise<void> {
  const last = recorded.get(partition) ?? { reason: undefined, at: 0 };
  if (last.reason === reason) return;
  const flipped = last.reason === undefined || (last.reason === null) !== (reason === null);
  if (!flipped && Date.now() - last.at < STATUS_REFRESH_MS) return;
  recorded.set(partition, { reason, at: Date.now() });
  await pj.deps.db
    .updateTable('backfill_run_resources')
    .set({ source_throttle: reason })
    .where('run_id', '=', pj.data.runId)
    .where('resource', '=', pj.data.resource)
    .execute();
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
