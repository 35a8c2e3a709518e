/**
 * Tenants as the console lists them: by name then id, in keyset pages, each with every
 * application's state for it (enabled, whether a sync is needed, the latest run).
 */
import type { ApplicationState, TenantSummary } from '@historical-sync/contracts';
import type { Db } from '@historical-sync/db';
import { SyncError } from '@historical-sync/domain';
import { sql } from 'kysely';
import { getTenant } from '../runs/tenants';
import { decodeCursor, encodeCursor, isPostgresText } from './cursor';
import { latestRunSummaries } from './run-history';
import { applicationsNeedingSync } from './status';

const ANY_NAME = /^[\s\S]*$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const ID_PREFIX = /^[0-9a-f-]{1,36}$/i;

export interface TenantQuery {
  /** Case-insensitive substring of the name, or a prefix of the id. */
  q?: string;
  /** Only this tenant (a tenant key's own). */
  onlyTenantId?: string;
  cursor?: string;
  limit: number;
}

/** `\`, `%` and `_` match themselves in a LIKE pattern. */
const likeLiteral = (text: string) => text.replace(/[\\%_]/g, (c) => `\\${c}`);

export async function listTenants(
  db: Db,
  query: TenantQuery,
): Promise<{ tenants: TenantSummary[]; nextCursor: string | null }> {
  const conditions = [sql`true`];
  if (query.onlyTenantId) conditions.push(sql`id = ${query.onlyTenantId}`);
  const q = query.q?.trim();
  if (q && !isPostgresText(q)) {
    // Postgres could not even compare it (a NUL fails the statement): no name holds one.
    throw new SyncError(400, 'bad_request', 'q: must not contain NUL or unpaired surrogates', 'q');
  }
  if (q) {
    const byName = sql`name ILIKE ${`%${likeLiteral(q)}%`}`;
    conditions.push(
      ID_PREFIX.test(q) ? sql`(${byName} OR id::text LIKE ${`${q.toLowerCase()}%`})` : byName,
    );
  }
  if (query.cursor) {
    const [name, id] = decodeCursor(query.cursor, [ANY_NAME, UUID]);
    conditions.push(sql`(name, id) > (${name}, ${id}::uuid)`);
  }
  const { rows } = await sql<{ id: string; name: string }>`
    SELECT id, name FROM tenants WHERE ${sql.join(conditions, sql` AND `)}
    ORDER BY name, id LIMIT ${query.limit + 1}`.execute(db);
  const shown = rows.slice(0, query.limit);
  const last = shown.at(-1);
  return {
    tenants: await withApplications(db, shown),
    nextCursor: rows.length > query.limit && last ? encodeCursor([last.name, last.id]) : null,
  };
}

/** One tenant with its applications' state (404 naming `orgId` when unknown). */
export async function tenantApplications(db: Db, tenantId: string): Promise<TenantSummary> {
  const tenant = await getTenant(db, tenantId);
  const [summary] = await withApplications(db, [tenant]);
  return summary as TenantSummary;
}

async function withApplications(
  db: Db,
  tenants: readonly { id: string; name: string }[],
): Promise<TenantSummary[]> {
  if (tenants.length === 0) return [];
  const ids = tenants.map((t) => t.id);
  const [applications, enablements, latest, needingSync] = await Promise.all([
    db.selectFrom('applications').select(['id', 'code', 'name']).orderBy('code').execute(),
    db
      .selectFrom('organization_applications')
      .select(['tenant_id', 'application_id', 'is_enabled', 'enabled_at'])
      .where('tenant_id', 'in', ids)
      .execute(),
    latestRunSummaries(db, ids),
    applicationsNeedingSync(db, ids),
  ]);
  const enablementOf = new Map(enablements.map((e) => [`${e.tenant_id}:${e.application_id}`, e]));
  return tenants.map((tenant) => ({
    tenantId: tenant.id,
    name: tenant.name,
    applications: applications.map((application): ApplicationState => {
      const key = `${tenant.id}:${application.id}`;
      const enablement = enablementOf.get(key);
      const run = latest.get(key);
      return {
        id: application.id,
        code: application.code,
        name: application.name,
        isEnabled: enablement?.is_enabled ?? false,
        enabledAt: enablement?.enabled_at?.toISOString() ?? null,
        syncNeeded: needingSync.has(key),
        latestRun: run?.summary ?? null,
      };
    }),
  }));
}
