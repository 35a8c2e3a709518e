/**
 * Verification reads a tenant's rows by id range (`tenant_id = $1 AND id >= $2 AND id < $3
 * ORDER BY id`). An index on (tenant_id) alone reads every row of the tenant, then filters and
 * sorts them, for each of the thousands of ranges a verification asks about; (tenant_id, id)
 * reads just the range, in order. It also serves every lookup by tenant the old index served
 * (tenant_id is its first column), so the old one is dropped rather than kept up on each write.
 */
import { type Kysely, sql } from 'kysely';

const TABLES = ['crm_organizations', 'crm_memberships', 'crm_credit_allocations'];

export async function up(db: Kysely<unknown>): Promise<void> {
  for (const table of TABLES) {
    await sql`CREATE INDEX ${sql.id(`${table}_tenant_id`)} ON ${sql.table(table)} (tenant_id, id)`.execute(
      db,
    );
    await sql`DROP INDEX ${sql.id(`${table}_tenant`)}`.execute(db);
  }
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of TABLES) {
    await sql`CREATE INDEX ${sql.id(`${table}_tenant`)} ON ${sql.table(table)} (tenant_id)`.execute(
      db,
    );
    await sql`DROP INDEX ${sql.id(`${table}_tenant_id`)}`.execute(db);
  }
}
