/**
 * Indexes behind the console's keyset pages: runs newest first (every tenant, one tenant, one
 * status) and tenants by name. Each page is one index range scan, however many rows came before.
 */
import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`CREATE INDEX backfill_runs_created_id ON backfill_runs (created_at DESC, id DESC)`.execute(
    db,
  );
  await sql`
    CREATE INDEX backfill_runs_tenant_created_id ON backfill_runs (tenant_id, created_at DESC, id DESC)
  `.execute(db);
  await sql`
    CREATE INDEX backfill_runs_status_created_id ON backfill_runs (status, created_at DESC, id DESC)
  `.execute(db);
  await sql`CREATE INDEX tenants_name_id ON tenants (name, id)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP INDEX tenants_name_id`.execute(db);
  await sql`DROP INDEX backfill_runs_status_created_id`.execute(db);
  await sql`DROP INDEX backfill_runs_tenant_created_id`.execute(db);
  await sql`DROP INDEX backfill_runs_created_id`.execute(db);
}
