/**
 * Backfill runs in Postgres: creation (at most one active per tenant and app) and reads. Status
 * transitions belong to run-state.ts.
 */
import {
  ACTIVE_RUN_STATUSES,
  FINAL_RUN_STATUSES,
  type Resource,
  type RunTrigger,
} from '@historical-sync/contracts';
import type { BackfillRun, BackfillRunResource, Db } from '@historical-sync/db';
import { sql } from 'kysely';
import type { PartitionRef, PartitionStatus, RunStatus } from './run-state';

export interface RunRequest {
  tenantId: string;
  applicationId: string;
  appCode: string;
  trigger: RunTrigger;
  resources: readonly Resource[];
  /** Canonical instant text (canonicalInstant): microseconds, which a Date would lose. */
  sinceDate: string | null;
  pageSize: number;
  maxEventsPerSecond: number | null;
  /** Id-range partitions per resource (1 = one job per resource). */
  partitions?: number;
  /**
   * A repair's rows by resource (trigger `verify`): the run publishes these, active ones in its
   * first partition and inactive ones (as tombstones) in its second (REPAIR_PARTITIONS).
   */
  repairRows?: Partial<Record<Resource, readonly string[]>>;
}

/**
 * A repair run's two partitions per resource: the rows active at the source (the resource's
 * event) and the rows inactive (its tombstone), which go to another stream for organizations and
 * memberships, and a page is published to one stream.
 */
export const REPAIR_PARTITIONS = 2;
/** Rows of a repair inserted per statement. */
const REPAIR_ROWS_PER_INSERT = 10_000;

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
      partitions: request.repairRows ? REPAIR_PARTITIONS : (request.partitions ?? 1),
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
  for (const [resource, ids] of Object.entries(request.repairRows ?? {})) {
    for (let i = 0; i < ids.length; i += REPAIR_ROWS_PER_INSERT) {
      await sql`
        INSERT INTO backfill_run_rows (run_id, resource, row_id)
        SELECT ${inserted.id}, ${resource}, unnest(${ids.slice(i, i + REPAIR_ROWS_PER_INSERT)}::uuid[])
        ON CONFLICT DO NOTHING
      `.execute(db);
    }
  }
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

/** What a resource job needs to know of its run and partition before it starts publishing. */
export interface PartitionJobState {
  /** Undefined when the run is gone. */
  runStatus: RunStatus | undefined;
  /** `verify`: a repair run, which publishes only the rows it lists (backfill_run_rows). */
  trigger: RunTrigger | undefined;
  maxEventsPerSecond: number | null;
  /** Every resource of the run, in order (the markers list them). */
  resources: Resource[];
  partition: { status: PartitionStatus; total: number | null; published: number };
}

/**
 * The run's status and rate cap, its resources, and the partition's status, total (null until
 * first counted) and mirror of its Redis checkpoint: one round trip. A partition row that is
 * missing (pruned) reads as pending.
 */
export async function readPartitionJob(db: Db, ref: PartitionRef): Promise<PartitionJobState> {
  const { rows } = await sql<{
    run_status: RunStatus;
    trigger: RunTrigger;
    max_events_per_second: number | null;
    resources: Resource[];
    partition_status: PartitionStatus | null;
    total: number | null;
    published: number | null;
  }>`
    SELECT r.status AS run_status, r.trigger, r.max_events_per_second,
      ARRAY(SELECT resource FROM backfill_run_resources WHERE run_id = r.id ORDER BY resource) AS resources,
      p.status AS partition_status, p.total, p.published
    FROM backfill_runs r
    LEFT JOIN backfill_run_partitions p
      ON p.run_id = r.id AND p.resource = ${ref.resource} AND p.partition = ${ref.partition}
    WHERE r.id = ${ref.runId}
  `.execute(db);
  const row = rows[0];
  return {
    runStatus: row?.run_status,
    trigger: row?.trigger,
    maxEventsPerSecond: row?.max_events_per_second ?? null,
    resources: row?.resources ?? [ref.resource],
    partition: {
      status: row?.partition_status ?? 'pending',
      total: row?.total ?? null,
      published: row?.published ?? 0,
    },
  };
}

/**
 * Deletes the partition rows of runs completed or cancelled more than `olderThanMs` ago: their
 * resource rows keep the sums, so the table holds only recent runs' partitions however many
 * runs tenants start. Failed runs keep theirs: a retry resumes them.
 */
export async function pruneFinishedPartitions(db: Db, olderThanMs: number): Promise<number> {
  const result = await sql`
    DELETE FROM backfill_run_partitions p USING backfill_runs r
    WHERE p.run_id = r.id AND r.status IN (${sql.join(FINAL_RUN_STATUSES)})
      AND r.finished_at < now() - ${`${olderThanMs} milliseconds`}::interval
  `.execute(db);
  return Number(result.numAffectedRows ?? 0n);
}

/**
 * One page of active runs (queued, running or paused) created more than `olderThanMs` ago, oldest
 * first, after `after`: the sweeper checks that each still has its job in Redis. Keyset paging on
 * (created_at, id) lets the sweeper visit every active run however many are parked or long, so a
 * newer run whose enqueue was lost is never hidden behind a full first page. `next` is null on the
 * last page. The cursor's created_at is Postgres text, which keeps the microseconds a Date would
 * cut (and so skip or repeat runs created within one millisecond).
 */
export async function findSweepableRuns(
  db: Db,
  olderThanMs: number,
  after: { createdAt: string; id: string } | null = null,
  limit = 1_000,
): Promise<{ runs: Run[]; next: { createdAt: string; id: string } | null }> {
  let query = selectRuns(db)
    .select(sql<string>`created_at::text`.as('created_at_key'))
    .where('status', 'in', ACTIVE_RUN_STATUSES)
    .where('created_at', '<', sql<Date>`now() - ${`${olderThanMs} milliseconds`}::interval`);
  if (after) {
    query = query.where(
      sql<boolean>`(created_at, id) > (${after.createdAt}::timestamptz, ${after.id}::uuid)`,
    );
  }
  const rows = await query.orderBy('created_at').orderBy('id').limit(limit).execute();
  const last = rows.at(-1);
  return {
    runs: rows.map(({ created_at_key: _, ...run }) => run),
    next: last && rows.length === limit ? { createdAt: last.created_at_key, id: last.id } : null,
  };
}
