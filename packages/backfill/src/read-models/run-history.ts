/**
 * Runs as the console lists them: newest first (created_at, then id, both descending), filtered
 * by tenant, application and status, in keyset pages (cursor.ts) that hold steady while runs are
 * created: a page starts strictly after the previous page's last row, so a new run (newer than
 * every listed one) never shifts a later page into duplicates or gaps.
 */
import type { RunStatus, RunSummary } from '@historical-sync/contracts';
import type { Db } from '@historical-sync/db';
import { sql } from 'kysely';
import { decodeCursor, encodeCursor } from './cursor';
import { percentOf } from './status';

export interface RunFilter {
  tenantId?: string;
  appCode?: string;
  status?: RunStatus;
}

/** created_at to the microsecond: a Date would cut it to milliseconds and break the keyset. */
const CREATED_KEY = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;

/**
 * A created key as `runColumns` writes it: the shape, and a real instant of years 1 to 9999. A
 * cursor's time goes to Postgres as a timestamptz, which refuses month 13 or year 0000 (a 500 if
 * it got there) and rolls 24:00 or a 60th second over to a time the API never wrote. The fields
 * are set one by one (Date.UTC reads years 0 to 99 as 1900 to 1999); any field out of its range
 * rolls the date over, so it no longer reads back as the key.
 */
const isCreatedKey = (key: string): boolean => {
  if (!CREATED_KEY.test(key)) return false;
  const [year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0] = key
    .slice(0, 19)
    .split(/[-T:]/)
    .map(Number);
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute, second);
  return year >= 1 && date.toISOString().slice(0, 19) === key.slice(0, 19);
};

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

interface SummaryRow {
  id: string;
  tenant_id: string;
  tenant_name: string;
  app_code: string;
  status: RunStatus;
  trigger: string;
  created_at: Date;
  created_key: string;
  started_at: Date | null;
  finished_at: Date | null;
  last_error: string | null;
  published: number;
  total: number | null;
}

/** The summary columns of the runs `r` (a set of backfill_runs rows), with their sums. */
const summarize = (runs: ReturnType<typeof sql>) => sql<SummaryRow>`
  SELECT r.id, r.tenant_id, t.name AS tenant_name, r.app_code, r.status, r.trigger,
    r.created_at, r.created_key, r.started_at, r.finished_at, r.last_error,
    s.published, s.total
  FROM (${runs}) r
  JOIN tenants t ON t.id = r.tenant_id
  CROSS JOIN LATERAL (
    SELECT coalesce(sum(published), 0)::int AS published,
      CASE WHEN count(*) FILTER (WHERE total IS NULL) = 0 THEN coalesce(sum(total), 0)::int END AS total
    FROM backfill_run_resources WHERE run_id = r.id
  ) s
  ORDER BY r.created_at DESC, r.id DESC`;

const runColumns = sql`id, tenant_id, app_code, status, trigger, created_at, started_at, finished_at,
  last_error, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS created_key`;

const iso = (date: Date | null) => (date ? date.toISOString() : null);

export function toRunSummary(row: SummaryRow): RunSummary {
  return {
    runId: row.id,
    tenantId: row.tenant_id,
    tenantName: row.tenant_name,
    appCode: row.app_code,
    status: row.status,
    trigger: row.trigger as RunSummary['trigger'],
    createdAt: row.created_at.toISOString(),
    startedAt: iso(row.started_at),
    finishedAt: iso(row.finished_at),
    published: row.published,
    total: row.total,
    percent: percentOf(row.published, row.total),
    lastError: row.last_error,
  };
}

export async function listRuns(
  db: Db,
  filter: RunFilter,
  page: { cursor?: string; limit: number },
): Promise<{ runs: RunSummary[]; nextCursor: string | null }> {
  const conditions = [sql`true`];
  if (filter.tenantId) conditions.push(sql`tenant_id = ${filter.tenantId}`);
  if (filter.appCode) conditions.push(sql`app_code = ${filter.appCode}`);
  if (filter.status) conditions.push(sql`status = ${filter.status}`);
  if (page.cursor) {
    const [created, id] = decodeCursor(page.cursor, [isCreatedKey, UUID]);
    conditions.push(sql`(created_at, id) < (${created}::timestamptz, ${id}::uuid)`);
  }
  // One more than the page: whether a next page exists, without counting.
  const runs = sql`
    SELECT ${runColumns} FROM backfill_runs WHERE ${sql.join(conditions, sql` AND `)}
    ORDER BY created_at DESC, id DESC LIMIT ${page.limit + 1}`;
  const { rows } = await summarize(runs).execute(db);
  const shown = rows.slice(0, page.limit);
  const last = shown.at(-1);
  return {
    runs: shown.map(toRunSummary),
    nextCursor: rows.length > page.limit && last ? encodeCursor([last.created_key, last.id]) : null,
  };
}

/** The latest run of each (tenant, application) among `tenantIds`, keyed `tenantId:appId`. */
export async function latestRunSummaries(
  db: Db,
  tenantIds: readonly string[],
): Promise<Map<string, { summary: RunSummary; applicationId: string; createdAt: Date }>> {
  if (tenantIds.length === 0) return new Map();
  const latest = sql`
    SELECT DISTINCT ON (tenant_id, application_id) ${runColumns}, application_id
    FROM backfill_runs WHERE tenant_id IN (${sql.join(tenantIds)})
    ORDER BY tenant_id, application_id, created_at DESC, id DESC`;
  const { rows } = await sql<SummaryRow & { application_id: string }>`
    SELECT x.*, r.application_id FROM (${summarize(latest)}) x
    JOIN backfill_runs r ON r.id = x.id`.execute(db);
  return new Map(
    rows.map((row) => [
      `${row.tenant_id}:${row.application_id}`,
      { summary: toRunSummary(row), applicationId: row.application_id, createdAt: row.created_at },
    ]),
  );
}
