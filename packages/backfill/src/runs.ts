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
  sinceDate: Date | null;
  pageSize: number;
  maxEventsPerSecond: number | null;
}

export interface RunWithResources extends BackfillRun {
  resources: BackfillRunResource[];
}

/**
 * Creates a queued run with one row per selected resource, unless the tenant already has an active
 * run for the application: then that run is returned with `created: false`. The partial unique
 * index decides between concurrent callers. Pass a transaction to join the caller's.
 */
export async function createRun(
  db: Db,
  request: RunRequest,
): Promise<{ run: BackfillRun; created: boolean }> {
  const inserted = await db
    .insertInto('backfill_runs')
    .values({
      tenant_id: request.tenantId,
      application_id: request.applicationId,
      app_code: request.appCode,
      trigger: request.trigger,
      since_date: request.sinceDate,
      page_size: request.pageSize,
      max_events_per_second: request.maxEventsPerSecond,
    })
    .onConflict((oc) =>
      oc
        .columns(['tenant_id', 'application_id'])
        .where('status', 'in', ACTIVE_RUN_STATUSES)
        .doNothing(),
    )
    .returningAll()
    .executeTakeFirst();
  if (inserted) {
    await db
      .insertInto('backfill_run_resources')
      .values(request.resources.map((resource) => ({ run_id: inserted.id, resource })))
      .execute();
    return { run: inserted, created: true };
  }
  const active = await findActiveRun(db, request.tenantId, request.applicationId);
  if (!active) throw new Error('active run vanished between insert and read; retry');
  return { run: active, created: false };
}

export async function findActiveRun(
  db: Db,
  tenantId: string,
  applicationId: string,
): Promise<BackfillRun | undefined> {
  return db
    .selectFrom('backfill_runs')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('application_id', '=', applicationId)
    .where('status', 'in', ACTIVE_RUN_STATUSES)
    .executeTakeFirst();
}

async function withResources(db: Db, run: BackfillRun | undefined) {
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
  const run = await db
    .selectFrom('backfill_runs')
    .selectAll()
    .where('id', '=', runId)
    .executeTakeFirst();
  return withResources(db, run);
}

export async function getLatestRun(
  db: Db,
  tenantId: string,
  applicationId: string,
): Promise<RunWithResources | undefined> {
  const run = await db
    .selectFrom('backfill_runs')
    .selectAll()
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

export async function markResourceStarted(
  db: Db,
  runId: string,
  resource: Resource,
  total: number,
): Promise<void> {
  await db
    .updateTable('backfill_run_resources')
    .set({
      status: 'running',
      // Keep the first attempt's total and start time across retries.
      total: sql`coalesce(total, ${total})`,
      started_at: sql`coalesce(started_at, now())`,
      last_error: null,
      updated_at: sql`now()`,
    })
    .where('run_id', '=', runId)
    .where('resource', '=', resource)
    .execute();
}

export async function recordResourceProgress(
  db: Db,
  runId: string,
  resource: Resource,
  published: number,
): Promise<void> {
  await db
    .updateTable('backfill_run_resources')
    .set({ published, updated_at: sql`now()` })
    .where('run_id', '=', runId)
    .where('resource', '=', resource)
    .execute();
}

export async function finishResource(
  db: Db,
  runId: string,
  resource: Resource,
  outcome: { status: 'completed' | 'failed' | 'cancelled'; published: number; error?: string },
): Promise<void> {
  await db
    .updateTable('backfill_run_resources')
    .set({
      status: outcome.status,
      published: outcome.published,
      last_error: outcome.error ?? null,
      finished_at: sql`now()`,
      updated_at: sql`now()`,
    })
    .where('run_id', '=', runId)
    .where('resource', '=', resource)
    .execute();
}

/** Moves an active run to a final state; false when it had already left the active states. */
export async function finishRun(
  db: Db,
  runId: string,
  outcome: { status: 'completed' | 'failed' | 'cancelled'; error?: string },
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
    .where('status', 'in', ACTIVE_RUN_STATUSES)
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

/** Runs still `queued` after `olderThanMs`: their enqueue may have failed. */
export async function findStaleQueuedRuns(db: Db, olderThanMs: number): Promise<BackfillRun[]> {
  return db
    .selectFrom('backfill_runs')
    .selectAll()
    .where('status', '=', 'queued')
    .where('created_at', '<', sql<Date>`now() - ${`${olderThanMs} milliseconds`}::interval`)
    .orderBy('created_at')
    .limit(100)
    .execute();
}
