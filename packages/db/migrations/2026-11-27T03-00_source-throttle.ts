/**
 * Source protection: why a resource's pages are slowed or paused by the load of the database
 * they read from (null when they go at full speed), for the run's status.
 */
import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE backfill_run_resources ADD COLUMN source_throttle text`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE backfill_run_resources DROP COLUMN source_throttle`.execute(db);
}
