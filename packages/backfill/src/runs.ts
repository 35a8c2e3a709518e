/** Backfill runs in Postgres: creation (at most one active per tenant and app) and transitions. */
import type { Resource } from '@historical-sync/contracts';
import type { BackfillRun, BackfillRunResource, Db, RunStatus } from '@historical-sync/db';
import { sql } from 'kysely';

export const ACTIVE_RUN_STATUSES = ['queued', 'running', 'paused'] as const satisfies RunStatus[];

export interface RunRequest {
  tenantId: string;
  applicationId: string;
  appCode: string;
  trigger: 'enable' | 'manual';
  resources: readonly Resource[];
  /** Canonical instant text (canonicalInstant): microseconds, which a Date would lose. */
  sinceDate: string | null;
  pageSize: number;
  maxEventsPerSecond: number | null;
  /** Id-range partitions per resource (1 = one job per resource). */
  partitions?: number;
}

/**
 * A run as this module reads it: `since_date` is canonical instant text (canonicalInstant)
 * rendered by Postgres, since the driver's Date would cut its microseconds.
 */
export type Run = Omit<BackfillRun, 'since_date'> & { since_date: string | null };

export interface RunWithResources extends Run {
  resources: BackfillRunResource[];
}

/** Postgres's rendering of canonicalInstant: six fractional digits, three when the rest are 0. */
const canonicalInstantSql = (column: string) =>
  sql<
    string | null
  >`regexp_replace(to_char(${sql.ref(column)} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), '(\\.\\d{3})000Z$', '\\1Z')`;

/** Every column of backfill_runs, since_date as canonical text. */
const runColumns = [
  'id',
  'tenant_id',
  'application_id',
  'app_code',
  'trigger',
  'status',
  'page_size',
  'max_events_per_second',
  'partitions',
  'last_error',
  'created_at',
  'started_at',
  'finished_at',
  'updated_at',
  'control_seq',
] as const satisfies readonly Exclude<keyof BackfillRun, 'since_date'>[];
// A column missing here fails the type check where a query's rows are returned as `Run`.

/** A createRun attempt that finds neither room nor an active run retries, up to this many times. */
const CREATE_RUN_ATTEMPTS = 20;

/**
 * Creates a queued run with one row per selected resource, unless the tenant already has an active
 * run for the application: then that run is returned with `created: false`. The partial unique
 * index decides between concurrent callers. Pass a transaction to join the caller's.
 *
 * The insert can lose to a run that then ends before this caller reads it (a concurrent cancel, a
 * tiny run completing): there is room again, so the insert is tried again. Each turn either
 * inserts or finds the run that beat it, so this converges in a turn or two; the bound only
 * guards against a bug turning it into a busy loop.
 */
export async function createRun(
  db: Db,
  request: RunRequest,
): Promise<{ run: Run; created: boolean }> {
  for (let attempt = 1; attempt <= CREATE_RUN_ATTEMPTS; attempt++) {
    const inserted = await insertRun(db, request);
    if (inserted) return { run: inserted, created: true };
    const active = await findActiveRun(db, request.tenantId, request.applicationId);
    if (active) return { run: active, created: false };
  }
  throw new Error(
    `no active run found after ${CREATE_RUN_ATTEMPTS} attempts to create one; runs end as fast as they start`,
  );
}

async function insertRun(db: Db, request: RunRequest): Promise<Run | undefined> {
  const inserted = await db
    .insertInto('backfill_runs')
    .values({
      tenant_id: request.tenantId,
      application_id: request.applicationId,
      app_code: request.appCode,
      trigger: request.trigger,
      // Text, cast by Postgres: every microsecond reaches the column.
      since_date: request.sinceDate === null ? null : sql<Date>`${request.sinceDate}::timestamptz`,
      page_size: request.pageSize,
      max_events_per_second: request.maxEventsPerSecond,
      partitions: request.partitions ?? 1,
    })
    .onConflict((oc) =>
      oc
        .columns(['tenant_id', 'application_id'])
        .where('status', 'in', ACTIVE_RUN_STATUSES)
        .doNothing(),
    )
    .returning([...runColumns, canonicalInstantSql('since_date').as('since_date')])
    .executeTakeFirst();
  if (!inserted) return undefined;
  await db
    .insertInto('backfill_run_resources')
    .values(request.resources.map((resource) => ({ run_id: inserted.id, resource })))
    .execute();
  await db
    .insertInto('backfill_run_partitions')
    .values(
      request.resources.flatMap((resource) =>
        Array.from({ length: inserted.partitions }, (_, partition) => ({
          run_id: inserted.id,
          resource,
          partition,
        })),
      ),
    )
    .execute();
  return inserted;
}

/** backfill_runs with since_date as canonical text. */
const selectRuns = (db: Db) =>
  db
    .selectFrom('backfill_runs')
    .select([...runColumns, canonicalInstantSql('since_date').as('since_date')]);

export async function findActiveRun(
  db: Db,
  tenantId: string,
  applicationId: string,
  /** Lock the row (inside the caller's transaction) against concurrent controls. */
  options: { lock?: boolean } = {},
): Promise<Run | undefined> {
  const query = selectRuns(db)
    .where('tenant_id', '=', tenantId)
    .where('application_id', '=', applicationId)
    .where('status', 'in', ACTIVE_RUN_STATUSES);
  return (options.lock ? query.forUpdate() : query).executeTakeFirst();
}

async function withResources(db: Db, run: Run | undefined) {
  if (!run) return undefined;
  const resources = await db
    .selectFrom('backfill_run_resources')
    .selectAll()
    .where('run_id', '=', run.id)
    .orderBy('resource')
    .execute();
  return { ...run, resources };
}

export async function getRun(db: Db, runId: string): Promise<RunWithResources | undefined> {
  const run = await selectRuns(db).where('id', '=', runId).executeTakeFirst();
  return withResources(db, run);
}

/**
 * One run of one tenant. The tenant is compared inside the query, so another tenant's run id and
 * an unknown id take the same path: one statement that returns no row, nothing read after it.
 */
export async function getTenantRun(
  db: Db,
  tenantId: string,
  runId: string,
): Promise<RunWithResources | undefined> {
  const run = await selectRuns(db)
    .where('id', '=', runId)
    .where('tenant_id', '=', tenantId)
    .executeTakeFirst();
  return withResources(db, run);
}

export async function getLatestRun(
  db: Db,
  tenantId: string,
  applicationId: string,
): Promise<RunWithResources | undefined> {
  const run = await selectRuns(db)
    .where('tenant_id', '=', tenantId)
    .where('application_id', '=', applicationId)
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .limit(1)
    .executeTakeFirst();
  return withResources(db, run);
}

/** queued -> running; true only for the caller that made the transition. */
export async function markRunStarted(db: Db, runId: string): Promise<boolean> {
  const result = await db
    .updateTable('backfill_runs')
    .set({ status: 'running', started_at: sql`now()`, updated_at: sql`now()` })
    .where('id', '=', runId)
    .where('status', '=', 'queued')
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

/** One partition (id range) of one resource of one run: the unit a resource job works on. */
export interface PartitionRef {
  runId: string;
  resource: Resource;
  partition: number;
}

const partitionWhere = (ref: PartitionRef) =>
  sql`run_id = ${ref.runId} AND resource = ${ref.resource} AND partition = ${ref.partition}`;

export async function markPartitionStarted(
  db: Db,
  ref: PartitionRef,
  total: number,
  /** The partition failed before and is retried now: its error leaves the resource row. */
  retried = false,
): Promise<void> {
  // Keep the first attempt's total across retries.
  await sql`
    UPDATE backfill_run_partitions
    SET status = 'running', total = coalesce(total, ${total}), updated_at = now()
    WHERE ${partitionWhere(ref)}
  `.execute(db);
  await refreshResource(db, ref.runId, ref.resource, { clearError: retried });
}

export async function recordPartitionProgress(
  db: Db,
  ref: PartitionRef,
  published: number,
): Promise<void> {
  // Never backwards: a worker that stalled past its lock can report after its successor has
  // finished the job, with the older count it held; the checkpoint it mirrors only moves forward.
  await sql`
    UPDATE backfill_run_partitions SET published = greatest(published, ${published}), updated_at = now()
    WHERE ${partitionWhere(ref)}
  `.execute(db);
  await refreshResource(db, ref.runId, ref.resource);
}

/**
 * What Postgres recorded for a partition: its total (null until first counted) and the mirror of
 * its Redis checkpoint.
 */
export async function readPartition(
  db: Db,
  ref: PartitionRef,
): Promise<{ status: string; total: number | null; published: number }> {
  const { rows } = await sql<{ status: string; total: number | null; published: number }>`
    SELECT status, total, published FROM backfill_run_partitions WHERE ${partitionWhere(ref)}
  `.execute(db);
  return rows[0] ?? { status: 'pending', total: null, published: 0 };
}

export async function finishPartition(
  db: Db,
  ref: PartitionRef,
  outcome: { status: 'completed' | 'failed' | 'cancelled'; published: number; error?: string },
): Promise<void> {
  await sql`
    UPDATE backfill_run_partitions
    SET status = ${outcome.status}, published = ${outcome.published}, updated_at = now()
    WHERE ${partitionWhere(ref)}
  `.execute(db);
  await refreshResource(db, ref.runId, ref.resource, outcome.error ? { error: outcome.error } : {});
}

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

/** Closes a cancelled run's partitions still pending or running, and sums its resources again. */
export async function cancelOpenPartitions(db: Db, runId: string): Promise<void> {
  const { rows } = await sql<{ resource: Resource }>`
    UPDATE backfill_run_partitions SET status = 'cancelled', updated_at = now()
    WHERE run_id = ${runId} AND status IN ('pending', 'running')
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

/**
 * Deletes the partition rows of runs completed or cancelled more than `olderThanMs` ago: their
 * resource rows keep the sums, so the table holds only recent runs' partitions however many
 * runs tenants start. Failed runs keep theirs: a retry resumes them.
 */
export async function pruneFinishedPartitions(db: Db, olderThanMs: number): Promise<number> {
  const result = await sql`
    DELETE FROM backfill_run_partitions p USING backfill_runs r
    WHERE p.run_id = r.id AND r.status IN ('completed', 'cancelled')
      AND r.finished_at < now() - ${`${olderThanMs} milliseconds`}::interval
  `.execute(db);
  return Number(result.numAffectedRows ?? 0n);
}

/** Moves a run to a final state from one of `from`; false when it was in none of them. */
export async function finishRun(
  db: Db,
  runId: string,
  outcome: { status: 'completed' | 'failed' | 'cancelled'; error?: string },
  from: readonly RunStatus[] = ACTIVE_RUN_STATUSES,
): Promise<boolean> {
  const result = await db
    .updateTable('backfill_runs')
    .set({
      status: outcome.status,
      last_error: outcome.error ?? null,
      finished_at: sql`now()`,
      updated_at: sql`now()`,
    })
    .where('id', '=', runId)
    .where('status', 'in', from)
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

export async function getRunStatus(db: Db, runId: string): Promise<RunStatus | undefined> {
  const row = await db
    .selectFrom('backfill_runs')
    .select('status')
    .where('id', '=', runId)
    .executeTakeFirst();
  return row?.status;
}

/**
 * Active runs (queued, running or paused) created more than `olderThanMs` ago: the sweeper
 * checks that each still has its job in Redis.
 */
export async function findSweepableRuns(db: Db, olderThanMs: number): Promise<Run[]> {
  return selectRuns(db)
    .where('status', 'in', ['queued', 'running', 'paused'])
    .where('created_at', '<', sql<Date>`now() - ${`${olderThanMs} milliseconds`}::interval`)
    .orderBy('created_at')
    .limit(1_000)
    .execute();
}
