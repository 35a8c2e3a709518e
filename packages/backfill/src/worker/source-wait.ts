/**
 * The page loop's hooks into what protects the database pages are read from: before each page,
 * wait as the process's governors advise (source protection, source-guard.ts; the replica's lag,
 * replica-guard.ts); before the first page an attempt reads from a replica, wait until the replica
 * has replayed the run's enablement (docs/decisions/0015-replica-reads.md). The resource's status
 * says why it waits, by which signal, and for how long so far.
 *
 * A governor asks for a share of full speed; the job keeps it by waiting, before each page, for
 * what its previous page took times (1 / share - 1): so a job at half speed works and waits in
 * turns of a page each, whatever a page costs on this machine, and needs no figure of what full
 * speed is.
 */
import { bytesToReplay, formatBytes, primaryWalPosition } from '../pacing/replica-lsn';
import type { PageGovernor, SourceAdvice } from '../pacing/source-guard';
import type { Exit } from './leave';
import type { PartitionJob } from './partition-job';

/** The longest pause spent inside the job; a longer one parks it (no worker slot held). */
const PAUSE_IN_JOB_MS = 1_000;
/** The longest wait before one page when slowed: at most a page a second per job. */
const MAX_SLOW_WAIT_MS = 1_000;
/** What a page is taken to cost before a job has published one (the first page slowed). */
const FIRST_PAGE_MS = 10;
/** A reason that only changed its figures is written again at most this often. */
const STATUS_REFRESH_MS = 1_000;
/** How often a job waiting for the replica to replay its run's start looks again. */
const REPLAY_POLL_MS = 50;
/** A job parked for the replica's replay looks again after this. */
const REPLAY_RECHECK_MS = 1_000;

interface Recorded {
  /** undefined: not written by this attempt yet (an earlier one may have left a reason). */
  reason: string | null | undefined;
  at: number;
  /** When the job became throttled (Date.now()), null while it is not. */
  since: number | null;
}
const recorded = new WeakMap<PartitionJob, Recorded>();
/** When each job's last wait ended (performance.now()): its page's working time runs from there. */
const workingSince = new WeakMap<PartitionJob, number>();

export async function waitForSource(
  pj: PartitionJob,
  governors: readonly PageGovernor[],
): Promise<Exit | undefined> {
  const started = performance.now();
  // Counted as each wait ends, so the throttled time grows during a long pause too; each wait is
  // counted for the governors that asked for it.
  const wait = async (ms: number, asking: readonly PageGovernor[]) => {
    const from = performance.now();
    await sleep(ms);
    for (const governor of asking) governor.recordWait(performance.now() - from);
  };
  let advice = adviceOf(governors);
  while (advice.kind === 'pause') {
    await recordThrottle(pj, advice.reason);
    const probeMs = Math.min(...advice.asking.map((g) => g.probeIntervalMs));
    if (performance.now() - started >= PAUSE_IN_JOB_MS) {
      pj.log.info({ reason: advice.reason }, 'pages paused to protect their source');
      return { kind: 'park', delayMs: probeMs * 4 };
    }
    await wait(probeMs, advice.asking);
    advice = adviceOf(governors);
  }
  if (advice.kind === 'slow') {
    await recordThrottle(pj, advice.reason);
    const since = workingSince.get(pj);
    const worked = since === undefined ? FIRST_PAGE_MS : performance.now() - since;
    const delayMs = Math.min(MAX_SLOW_WAIT_MS, worked * (1 / advice.share - 1));
    await wait(delayMs, advice.asking);
  } else {
    await recordThrottle(pj, null);
  }
  workingSince.set(pj, performance.now());
  return undefined;
}

type CombinedAdvice =
  | { kind: 'go' }
  | { kind: 'slow'; share: number; reason: string; asking: PageGovernor[] }
  | { kind: 'pause'; reason: string; asking: PageGovernor[] };

/** The strictest advice of all: any pause pauses; otherwise the smallest share. */
function adviceOf(governors: readonly PageGovernor[]): CombinedAdvice {
  const advised = governors.map((governor) => ({ governor, advice: governor.advise() }));
  const pausing = advised.filter(
    (a): a is { governor: PageGovernor; advice: Extract<SourceAdvice, { kind: 'pause' }> } =>
      a.advice.kind === 'pause',
  );
  const [firstPause] = pausing;
  if (firstPause) {
    return {
      kind: 'pause',
      reason: firstPause.advice.reason,
      asking: pausing.map((a) => a.governor),
    };
  }
  const slowing = advised
    .filter(
      (a): a is { governor: PageGovernor; advice: Extract<SourceAdvice, { kind: 'slow' }> } =>
        a.advice.kind === 'slow',
    )
    .sort((a, b) => a.advice.share - b.advice.share);
  const [slowest] = slowing;
  if (!slowest) return { kind: 'go' };
  return {
    kind: 'slow',
    share: slowest.advice.share,
    reason: slowest.advice.reason,
    asking: slowing.map((a) => a.governor),
  };
}

/**
 * Where the primary's WAL stood once a run was visible, per run: a replica that has replayed up to
 * there has its enablement, and every row committed before it. Kept so that later attempts (a new
 * turn, a resume) only ask the replica; bounded, the oldest runs forgotten first (an attempt that
 * finds none reads the primary again, which is later and so just as safe).
 */
const runStarts = new Map<string, string>();
const RUN_STARTS_KEPT = 10_000;
/** Attempts whose replica has been seen past their run's start: they read on without asking. */
const replayed = new WeakSet<PartitionJob>();

/**
 * Before an attempt's first read from a replica: waits until the replica has replayed its run's
 * start (briefly in the job, then parked with no attempt used). Without this a replica behind the
 * enablement would miss rows committed before it, and no live event would bring them, since they
 * changed before capture began for the application. Nothing to do when pages are read from the
 * primary. Idempotent within an attempt, so a step before the page loop (counting the partition)
 * may call it too.
 */
export async function waitForReplica(pj: PartitionJob): Promise<Exit | undefined> {
  const { db, sourceDb } = pj.deps;
  if (!sourceDb || replayed.has(pj)) return undefined;
  const { runId } = pj.data;
  let target = runStarts.get(runId);
  if (!target) {
    target = await primaryWalPosition(db);
    runStarts.set(runId, target);
    if (runStarts.size > RUN_STARTS_KEPT) {
      const [oldest] = runStarts.keys();
      if (oldest !== undefined) runStarts.delete(oldest);
    }
  }
  const started = performance.now();
  for (;;) {
    const behind = await bytesToReplay(sourceDb, target);
    if (behind === 0) break;
    await recordThrottle(
      pj,
      `replica lag: waiting for the replica to replay the run's start (${formatBytes(behind)} of WAL to replay)`,
    );
    if (performance.now() - started >= PAUSE_IN_JOB_MS) {
      pj.log.info({ target, behind }, "waiting for the replica to replay the run's start");
      return { kind: 'park', delayMs: REPLAY_RECHECK_MS };
    }
    await sleep(REPLAY_POLL_MS);
  }
  replayed.add(pj);
  // Clears the wait's reason, or one an earlier attempt left when it parked for the replica.
  await recordThrottle(pj, null);
  return undefined;
}

/**
 * Writes why the resource is throttled (null: it is not) when that changed, followed by how long
 * it has been throttled: at once between throttled and not, at most once a second while only the
 * figures moved.
 */
async function recordThrottle(pj: PartitionJob, reason: string | null): Promise<void> {
  const last = recorded.get(pj) ?? { reason: undefined, at: 0, since: null };
  if (last.reason === reason && reason === null) return;
  const flipped = last.reason === undefined || (last.reason === null) !== (reason === null);
  if (!flipped && Date.now() - last.at < STATUS_REFRESH_MS) return;
  const since = reason === null ? null : (last.since ?? Date.now());
  recorded.set(pj, { reason, at: Date.now(), since });
  const text = since === null ? null : `${reason} (for ${forHowLong(Date.now() - since)})`;
  await pj.deps.db
    .updateTable('backfill_run_resources')
    .set({ source_throttle: text })
    .where('run_id', '=', pj.data.runId)
    .where('resource', '=', pj.data.resource)
    .execute();
}

/** Whole seconds, or under a second. */
const forHowLong = (ms: number) => (ms < 1_000 ? 'under a second' : `${Math.floor(ms / 1000)} s`);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
