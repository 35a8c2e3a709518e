/**
 * The one owner of run and partition statuses: the transitions that exist (as data: from which
 * statuses, to which, made by whom) and the guarded UPDATEs that perform them. Every UPDATE of a
 * status names its transition and applies only `WHERE status IN (its from)`, so of two actors
 * racing on a run (a cancel and a worker's failure, two workers) exactly one wins and the other is
 * told so. No other module writes a status; the statuses themselves, and which are active, ended or
 * final, are the contracts' run vocabulary (run-vocabulary.ts), which these tables must agree with.
 *
 * A resource row's status is not a state of its own: it sums its partitions (refreshResource).
 */
import {
  FINAL_RUN_STATUSES,
  type Resource,
  RUN_ACTIONS,
  type RunAction,
  type RunResourceStatus,
  type RunStatus,
} from '@historical-sync/contracts';
import type { BackfillRun, Db } from '@historical-sync/db';
import { sql } from 'kysely';

// The run vocabulary is the contracts' (run-vocabulary.ts); the backfill's modules find it here
// beside the transitions that must agree with it.
export { ACTIVE_RUN_STATUSES, FINAL_RUN_STATUSES, RUN_STATUSES } from '@historical-sync/contracts';
export type { RunStatus };
/** A partition's status: the values of a resource's (contracts' RUN_RESOURCE_STATUSES). */
export type PartitionStatus = RunResourceStatus;

/** A transition: the statuses it applies from, those it can lead to, and who makes it. */
interface Transition<S extends string> {
  readonly from: readonly S[];
  readonly to: readonly S[];
  readonly by: string;
}

export const RUN_TRANSITIONS = {
  // An insert (createRun), not an UPDATE: a run starts queued.
  create: { from: [], to: ['queued'], by: 'enable or manual sync (API)' },
  start: { from: ['queued'], to: ['running'], by: 'its first resource job (worker)' },
  pause: { from: ['queued', 'running'], to: ['paused'], by: 'pause (API)' },
  // Back to where it was; to failed when one of its jobs failed for good while it was paused.
  resume: { from: ['paused'], to: ['queued', 'running', 'failed'], by: 'resume (API)' },
  cancel: {
    from: ['queued', 'running', 'paused', 'failed'],
    to: ['cancelled'],
    by: 'cancel (API)',
  },
  // A failed run too: its other jobs still publish, and a disabled application must receive
  // nothing more of the tenant.
  disable: {
    from: ['queued', 'running', 'paused', 'failed'],
    to: ['cancelled'],
    by: 'disable of the application (API)',
  },
  // A paused run stays paused (its barrier holds); its resume finds the failed partition.
  fail: {
    from: ['queued', 'running'],
    to: ['failed'],
    by: 'a resource job failing for good (worker)',
  },
  retry: {
    from: ['failed'],
    to: ['running'],
    by: 'retry (API): its failed jobs go back to their queues',
  },
  revive: {
    from: ['failed'],
    to: ['running'],
    by: 'a failed job retried while no other job of the run is failed (worker)',
  },
  // Every resource job has completed; a pause or failure recorded meanwhile is moot.
  complete: {
    from: ['queued', 'running', 'paused', 'failed'],
    to: ['completed'],
    by: 'the run job, once every resource job completed (worker)',
  },
} as const satisfies Record<string, Transition<RunStatus>>;

export type RunTransitionName = keyof typeof RUN_TRANSITIONS;

export const PARTITION_TRANSITIONS = {
  // Again from running when its job resumes (after a park, a hand-back, a crash).
  start: { from: ['pending', 'running', 'failed'], to: ['running'], by: 'its job (worker)' },
  // Again from completed when a retaken job finds nothing left to publish; from cancelled when
  // the run's cancel closed it after its last page was out (every row of it was published).
  complete: {
    from: ['running', 'completed', 'cancelled'],
    to: ['completed'],
    by: 'its job after the last page (worker)',
  },
  fail: {
    from: ['pending', 'running', 'failed'],
    to: ['failed'],
    by: 'its job failing for good (worker)',
  },
  // Again from cancelled when the run's cancel closed it first: its job records where its
  // checkpoint stands.
  stop: {
    from: ['pending', 'running', 'failed', 'cancelled'],
    to: ['cancelled'],
    by: 'its job finding the run cancelled (worker)',
  },
  // A failed partition of a cancelled run keeps its status and error.
  close: { from: ['pending', 'running'], to: ['cancelled'], by: 'the cancel of its run (API)' },
} as const satisfies Record<string, Transition<PartitionStatus>>;

export type PartitionTransitionName = keyof typeof PARTITION_TRANSITIONS;

/**
 * Statuses in which a run's resource jobs publish: a failed run's too (a retried job, or one that
 * had not started yet); a paused run's jobs wait, a final run's have nothing to do.
 */
export const PUBLISHING_RUN_STATUSES = [
  'queued',
  'running',
  'failed',
] as const satisfies RunStatus[];

export const isPublishingRunStatus = (status: RunStatus): boolean =>
  (PUBLISHING_RUN_STATUSES as readonly RunStatus[]).includes(status);
/** Final (contracts' FINAL_RUN_STATUSES): no transition below leaves it (run-state-table.test). */
export const isFinalRunStatus = (status: RunStatus): boolean => FINAL_RUN_STATUSES.includes(status);

export const canTransition = (name: RunTransitionName, from: RunStatus): boolean =>
  (RUN_TRANSITIONS[name].from as readonly RunStatus[]).includes(from);

/** The transition each action makes; retry's is made by the retried job. */
const ACTION_TRANSITION: Record<RunAction, RunTransitionName> = {
  pause: 'pause',
  resume: 'resume',
  cancel: 'cancel',
  retry: 'retry',
};

/** The actions allowed on a run in `status`, in the contracts' order (RUN_ACTIONS). */
export function allowedActions(status: RunStatus): RunAction[] {
  return RUN_ACTIONS.filter((action) => canTransition(ACTION_TRANSITION[action], status));
}

/** `IN (...)` of a transition's from statuses. */
const fromList = (from: readonly string[]) => sql.join([...from]);

// ----- run transitions -----

/** queued -> running; true only for the caller that made the transition. */
export async function startRun(db: Db, runId: string): Promise<boolean> {
  const result = await sql`
    UPDATE backfill_runs SET status = 'running', started_at = now(), updated_at = now()
    WHERE id = ${runId} AND status IN (${fromList(RUN_TRANSITIONS.start.from)})
  `.execute(db);
  return (result.numAffectedRows ?? 0n) > 0n;
}

/** A resource job failed for good: the run fails with its reason, unless it left queued/running. */
export async function failRun(db: Db, runId: string, error: string): Promise<boolean> {
  return finishRun(db, runId, 'fail', 'failed', error);
}

/**
 * The run job's end, numbered `controlSeq` (the barrier that closes the run's control keys);
 * false when the run was no longer in a status `complete` applies to.
 */
export async function completeRun(db: Db, runId: string, controlSeq: number): Promise<boolean> {
  return finishRun(db, runId, 'complete', 'completed', null, controlSeq);
}

async function finishRun(
  db: Db,
  runId: string,
  name: 'fail' | 'complete',
  to: RunStatus,
  error: string | null,
  controlSeq?: number,
): Promise<boolean> {
  const result = await sql`
    UPDATE backfill_runs
    SET status = ${to}, last_error = ${error}, finished_at = now(), updated_at = now(),
      control_seq = coalesce(${controlSeq ?? null}::bigint, control_seq)
    WHERE id = ${runId} AND status IN (${fromList(RUN_TRANSITIONS[name].from)})
  `.execute(db);
  return (result.numAffectedRows ?? 0n) > 0n;
}

/** failed -> running by a retry, before its failed jobs go back; true when this call made it. */
export async function markRunRetried(db: Db, runId: string): Promise<boolean> {
  const result = await sql`
    UPDATE backfill_runs SET status = 'running', last_error = NULL, finished_at = NULL, updated_at = now()
    WHERE id = ${runId} AND status IN (${fromList(RUN_TRANSITIONS.retry.from)})
  `.execute(db);
  return (result.numAffectedRows ?? 0n) > 0n;
}

/**
 * failed -> running when a failed job is tried again, unless another of the run's jobs is still
 * failed (the run stays failed until that one is retried too). True when this call revived it.
 */
export async function reviveFailedRun(
  db: Db,
  runId: string,
  self: { resource: string; partition: number },
): Promise<boolean> {
  const result = await sql`
    UPDATE backfill_runs SET status = 'running', last_error = NULL, finished_at = NULL, updated_at = now()
    WHERE id = ${runId} AND status IN (${fromList(RUN_TRANSITIONS.revive.from)})
      AND NOT EXISTS (
        SELECT 1 FROM backfill_run_partitions
        WHERE run_id = ${runId} AND status = 'failed'
          AND (resource, partition) <> (${self.resource}, ${self.partition})
      )
  `.execute(db);
  return (result.numAffectedRows ?? 0n) > 0n;
}

export type ControlTransitionName = 'pause' | 'resume' | 'cancel' | 'disable';

/**
 * Where a control takes a run: a resume goes back to where the run was (queued if it never
 * started), or to failed when `failedPartitionError` says a job failed for good while it was paused.
 */
export function controlTarget(
  name: ControlTransitionName,
  run: Pick<BackfillRun, 'started_at'>,
  failedPartitionError?: string,
): RunStatus {
  if (name !== 'resume') return RUN_TRANSITIONS[name].to[0];
  if (failedPartitionError !== undefined) return 'failed';
  return run.started_at ? 'running' : 'queued';
}

/**
 * Records a control on a run, numbered `controlSeq` (its barrier's number). A run it ends
 * (cancelled, or failed on resume) records `reason` and the finish time, and a cancelled run's
 * open partitions close. Undefined when the run was not in a status the control applies from;
 * callers lock the row first, so that only happens on a bug.
 */
export async function applyControl(
  db: Db,
  runId: string,
  name: ControlTransitionName,
  to: RunStatus,
  options: { controlSeq: number; reason?: string },
): Promise<BackfillRun | undefined> {
  if (!(RUN_TRANSITIONS[name].to as readonly RunStatus[]).includes(to)) {
    throw new Error(`${name} cannot lead to ${to}`);
  }
  const ends = to === 'cancelled' || to === 'failed';
  const updated = await db
    .updateTable('backfill_runs')
    .set({
      status: to,
      control_seq: sql`${options.controlSeq}`,
      updated_at: sql`now()`,
      ...(ends ? { finished_at: sql`now()`, last_error: options.reason ?? null } : {}),
    })
    .where('id', '=', runId)
    .where('status', 'in', RUN_TRANSITIONS[name].from)
    .returningAll()
    .executeTakeFirst();
  // A cancelled run's partitions that no job will finish (its unprocessed jobs are removed)
  // close here, so its resource rows end too (cancelled, or failed where a partition failed).
  if (updated && to === 'cancelled') await closeOpenPartitions(db, runId);
  return updated;
}

// ----- partition transitions -----

/** One partition (id range) of one resource of one run: the unit a resource job works on. */
export interface PartitionRef {
  runId: string;
  resource: Resource;
  partition: number;
}

const partitionWhere = (ref: PartitionRef) =>
  sql`run_id = ${ref.runId} AND resource = ${ref.resource} AND partition = ${ref.partition}`;

/**
 * The partition's job starts or resumes: running, its total recorded (the first attempt's total
 * is kept across retries).
 */
export async function startPartition(
  db: Db,
  ref: PartitionRef,
  /** Null until counted (recordPartitionTotal). */
  total: number | null,
  /** The partition failed before and is retried now: its error leaves the resource row. */
  retried = false,
): Promise<void> {
  await sql`
    UPDATE backfill_run_partitions
    SET status = 'running', total = coalesce(total, ${total}), updated_at = now()
    WHERE ${partitionWhere(ref)} AND status IN (${fromList(PARTITION_TRANSITIONS.start.from)})
  `.execute(db);
  await refreshResource(db, ref.runId, ref.resource, { clearError: retried });
}

/** The partition's row count, once counted; a total recorded before is kept. */
export async function recordPartitionTotal(
  db: Db,
  ref: PartitionRef,
  total: number,
): Promise<void> {
  await sql`
    UPDATE backfill_run_partitions SET total = coalesce(total, ${total}), updated_at = now()
    WHERE ${partitionWhere(ref)}
  `.execute(db);
  await refreshResource(db, ref.runId, ref.resource);
}

/**
 * Mirrors the partition's checkpoint count, and answers the run's status in the same statement
 * (a paused or cancelled run's job then leaves sooner).
 */
export async function recordPartitionProgress(
  db: Db,
  ref: PartitionRef,
  published: number,
): Promise<RunStatus | undefined> {
  // Never backwards: a worker that stalled past its lock can report after its successor has
  // finished the job, with the older count it held; the checkpoint it mirrors only moves forward.
  const { rows } = await sql<{ status: RunStatus }>`
    UPDATE backfill_run_partitions SET published = greatest(published, ${published}), updated_at = now()
    WHERE ${partitionWhere(ref)}
    RETURNING (SELECT status FROM backfill_runs WHERE id = ${ref.runId}) AS status
  `.execute(db);
  await refreshResource(db, ref.runId, ref.resource);
  return rows[0]?.status;
}

/**
 * Ends the partition by `name`: completed after its last page, failed for good with `error`,
 * stopped (cancelled) where its checkpoint stands. `published` is the checkpoint's count, when
 * known. False when the partition was in no status the transition applies from.
 */
export async function finishPartition(
  db: Db,
  ref: PartitionRef,
  name: 'complete' | 'fail' | 'stop',
  outcome: { published?: number; error?: string } = {},
): Promise<boolean> {
  const result = await sql`
    UPDATE backfill_run_partitions
    SET status = ${PARTITION_TRANSITIONS[name].to[0]},
      -- Never backwards, as in recordPartitionProgress: a stalled worker's older count loses.
      published = greatest(published, coalesce(${outcome.published ?? null}::int, published)),
      updated_at = now()
    WHERE ${partitionWhere(ref)} AND status IN (${fromList(PARTITION_TRANSITIONS[name].from)})
  `.execute(db);
  const moved = (result.numAffectedRows ?? 0n) > 0n;
  if (moved) {
    await refreshResource(
      db,
      ref.runId,
      ref.resource,
      outcome.error ? { error: outcome.error } : {},
    );
  }
  return moved;
}

/** Closes a cancelled run's partitions still pending or running, and sums its resources again. */
async function closeOpenPartitions(db: Db, runId: string): Promise<void> {
  const { rows } = await sql<{ resource: Resource }>`
    UPDATE backfill_run_partitions SET status = 'cancelled', updated_at = now()
    WHERE run_id = ${runId} AND status IN (${fromList(PARTITION_TRANSITIONS.close.from)})
    RETURNING resource
  `.execute(db);
  for (const resource of new Set(rows.map((r) => r.resource))) {
    await sql`SELECT 1 FROM backfill_run_resources WHERE run_id = ${runId} AND resource = ${resource} FOR UPDATE`.execute(
      db,
    );
    await refreshLockedResource(db, runId, resource, {});
  }
}

/** The error of a partition of the run that failed for good, if one did. */
export async function findFailedPartitionError(db: Db, runId: string): Promise<string | undefined> {
  const { rows } = await sql<{ error: string | null }>`
    SELECT r.last_error AS error FROM backfill_run_partitions p
    JOIN backfill_run_resources r ON r.run_id = p.run_id AND r.resource = p.resource
    WHERE p.run_id = ${runId} AND p.status = 'failed'
    LIMIT 1
  `.execute(db);
  const row = rows[0];
  return row ? (row.error ?? 'a job failed while the run was paused') : undefined;
}

// ----- resource rows: sums of their partitions -----

/**
 * The resource row sums its partitions: published and total, and a status that is failed or
 * cancelled if any partition is, completed once all are, running while any has started.
 */
async function refreshResource(
  db: Db,
  runId: string,
  resource: Resource,
  options: { error?: string; clearError?: boolean } = {},
): Promise<void> {
  // Lock the resource row first, so the sums below are read after any concurrent refresh of a
  // sibling partition committed (an UPDATE ... FROM would otherwise sum from an older snapshot).
  await db.transaction().execute(async (trx) => {
    await sql`
      SELECT 1 FROM backfill_run_resources WHERE run_id = ${runId} AND resource = ${resource} FOR UPDATE
    `.execute(trx);
    await refreshLockedResource(trx, runId, resource, options);
  });
}

async function refreshLockedResource(
  db: Db,
  runId: string,
  resource: Resource,
  options: { error?: string; clearError?: boolean },
): Promise<void> {
  await sql`
    UPDATE backfill_run_resources r SET
      published = s.published,
      total = CASE WHEN s.unknown = 0 THEN s.total ELSE r.total END,
      status = CASE
        WHEN s.failed > 0 THEN 'failed'
        WHEN s.cancelled > 0 THEN 'cancelled'
        WHEN s.completed = s.n THEN 'completed'
        WHEN s.pending < s.n THEN 'running'
        ELSE r.status END,
      started_at = CASE WHEN s.pending < s.n THEN coalesce(r.started_at, now()) ELSE r.started_at END,
      finished_at = CASE WHEN s.completed + s.failed + s.cancelled = s.n THEN coalesce(r.finished_at, now()) ELSE NULL END,
      last_error = CASE
        WHEN ${options.error ?? null}::text IS NOT NULL THEN ${options.error ?? null}::text
        WHEN ${options.clearError ?? false} THEN NULL
        ELSE r.last_error END,
      updated_at = now()
    FROM (
      SELECT count(*) AS n,
        coalesce(sum(published), 0)::int AS published,
        coalesce(sum(total), 0)::int AS total,
        count(*) FILTER (WHERE total IS NULL) AS unknown,
        count(*) FILTER (WHERE status = 'pending') AS pending,
        count(*) FILTER (WHERE status = 'completed') AS completed,
        count(*) FILTER (WHERE status = 'failed') AS failed,
        count(*) FILTER (WHERE status = 'cancelled') AS cancelled
      FROM backfill_run_partitions
      WHERE run_id = ${runId} AND resource = ${resource}
    ) s
    WHERE r.run_id = ${runId} AND r.resource = ${resource}
      -- A finished run's partitions may have been pruned: its resource row keeps the sums.
      AND s.n > 0
  `.execute(db);
}
