/**
 * Dedupe ids get the time they were recorded, so they can be pruned by age (the apply is
 * version-gated, so an id is not needed forever); a run records how many of its entries were
 * dead-lettered when its last marker arrived, which keeps it from being reported in sync.
 */
import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    ALTER TABLE crm_processed_events ADD COLUMN processed_at timestamptz NOT NULL DEFAULT now()
  `.execute(db);
  await sql`
    CREATE INDEX crm_processed_events_processed_at ON crm_processed_events (processed_at)
  `.execute(db);
  await sql`
    ALTER TABLE crm_sync_runs ADD COLUMN dead_lettered integer NOT NULL DEFAULT 0
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE crm_sync_runs DROP COLUMN dead_lettered`.execute(db);
  await sql`DROP INDEX crm_processed_events_processed_at`.execute(db);
  await sql`ALTER TABLE crm_processed_events DROP COLUMN processed_at`.execute(db);
}
