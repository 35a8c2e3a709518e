/**
 * The CRM's answer to verification: its rows of one tenant's resource in one id range, read
 * from the table that projects the resource. The consumer SDK's responder hashes them and
 * answers the system; tombstones (is_active false) come back marked inactive and are left out.
 */
import type { StoredRow, VerifyRowsQuery } from '@historical-sync/consumer';
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
