/**
 * The words of a backfill run, written once: its statuses and which of them are active, ended or
 * final, its resources' statuses, what a person can do to it and what starts it. Plain lists
 * with no zod, so a browser page can import them (`@historical-sync/contracts/run-vocabulary`)
 * without bundling the schemas; the schemas (api/runs.ts), the database's column types and the
 * backfill's transitions (packages/backfill/src/runs/run-state.ts) are built on these lists.
 *
 * "Ended" and "final" are two different sets, each word kept for its one meaning everywhere
 * (docs/decisions/0016-one-run-vocabulary.md).
 */

/** Every status a run can be in. */
export const RUN_STATUSES = [
  'queued',
  'running',
  'paused',
  'completed',
  'failed',
  'cancelled',
] as const;
// The subsets below are typed as lists of any status, so that `.includes(status)` takes any.
type Status = (typeof RUN_STATUSES)[number];

/** Not ended: the run holds its tenant's one slot for the application, and its jobs have work. */
export const ACTIVE_RUN_STATUSES: readonly Status[] = ['queued', 'running', 'paused'];

/**
 * Not active: the run has its outcome and no longer holds the slot; a live view of it stops here.
 * Only a failed one moves again, by a retry (its jobs already under way may still finish).
 */
export const ENDED_RUN_STATUSES: readonly Status[] = ['completed', 'failed', 'cancelled'];

/** The run can never change again: no transition leaves these (a failed run can be retried). */
export const FINAL_RUN_STATUSES: readonly Status[] = ['completed', 'cancelled'];

/** Every status a run's resource (and each of its partitions) is stored with. */
export const RUN_RESOURCE_STATUSES = [
  'pending',
  'running',
  'completed',
  'failed',
  'cancelled',
] as const;
export type RunResourceStatus = (typeof RUN_RESOURCE_STATUSES)[number];

/** A resource's status as a run view shows it: `paused` while its run is paused and work is left. */
export const RESOURCE_PROGRESS_STATUSES = [...RUN_RESOURCE_STATUSES, 'paused'] as const;

/** The controls a person sends to a run: `POST .../sync-runs/:runId/<control>`. */
export const RUN_CONTROLS = ['pause', 'resume', 'cancel'] as const;
export type RunControl = (typeof RUN_CONTROLS)[number];

/** What a person may do with a run: its controls, and a retry of a failed run. */
export const RUN_ACTIONS = [...RUN_CONTROLS, 'retry'] as const;

/** What started a run: an enable, a manual sync, or a verification's repair (docs/VERIFY.md). */
export const RUN_TRIGGERS = ['enable', 'manual', 'verify'] as const;
