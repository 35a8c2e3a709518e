/**
 * The CRM's answer to verification: its rows of one tenant's resource in one id range, read
 * from the table that projects the resource. The consumer SDK's responder hashes them and
 * answers the system; tombstones (is_active false) come back marked inactive and are left out.
 */
import type { StoredRow, VerifyForgetQuery, VerifyRowsQuery } from '@historical-sync/consumer';
import type { IdRange, Resource } from '@historical-sync/contracts';
import { sql } from 'kysely';
import type { CrmDb } from './schema';

/** The table holding each resource (the CRM keeps only its own credit allocations). */
export const RESOURCE_TABLES = {
  organizations: 'crm_organizations',
  memberships: 'crm_memberships',
  credits: 'crm_credit_allocations',
} as const satisfies Record<Resource, string>;

/**
 * One range scan, served by the (tenant_id, id) index (migration crm-verify-range-index): it
 * reads only the range's rows, already in id order, however many rows the tenant has.
 */
export function rangeQuery(resource: Resource, tenantId: string, range: IdRange) {
  return sql<{ id: string; version: number; is_active: boolean }>`
    SELECT id, version, is_active FROM ${sql.table(RESOURCE_TABLES[resource])}
    WHERE tenant_id = ${tenantId} AND id >= ${range.lo}
      AND (${range.hi}::uuid IS NULL OR id < ${range.hi}::uuid)
    ORDER BY id
  `;
}

/** The `rows` hook of `startVerifyResponder`, over the CRM's database. */
export const crmVerifyRows =
  (db: CrmDb) =>
  async ({ tenantId, resource, range }: VerifyRowsQuery): Promise<StoredRow[]> =>
    (await rangeQuery(resource, tenantId, range).execute(db)).rows.map((r) => ({
      id: r.id,
      version: r.version,
      active: r.is_active,
    }));

/**
 * The `forget` hook: deletes rows the source never had (a repair asks), each only at or below the
 * version the verification saw, in one statement.
 */
export const crmForgetRows =
  (db: CrmDb) =>
  async ({ tenantId, resource, rows }: VerifyForgetQuery): Promise<number> => {
    const result = await sql`
      DELETE FROM ${sql.table(RESOURCE_TABLES[resource])} AS t
      USING unnest(${rows.map((r) => r.id)}::uuid[], ${rows.map((r) => r.version)}::bigint[])
        AS g(id, version)
      WHERE t.tenant_id = ${tenantId} AND t.id = g.id AND t.version <= g.version
    `.execute(db);
    return Number(result.numAffectedRows ?? 0n);
  };
