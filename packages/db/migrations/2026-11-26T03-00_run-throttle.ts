/** Per-run throttle: the most events per second a run may publish (null = unlimited). */
import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    ALTER TABLE backfill_runs
      ADD COLUMN max_events_per_second integer CHECK (max_events_per_second > 0)
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE backfill_runs DROP COLUMN max_events_per_second`.execute(db);
}
