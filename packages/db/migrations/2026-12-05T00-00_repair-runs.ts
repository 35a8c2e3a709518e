/**
 * Repair runs (docs/VERIFY.md): a verification that finds differences can start a run with
 * trigger `verify`, which publishes the current state of exactly the rows that differ. The rows
 * are listed per run and resource (`row_id` in id order: the run's keyset), deleted with the run.
 * A verification keeps which run repaired it and what it asked the application to forget.
 */
import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE backfill_runs DROP CONSTRAINT backfill_runs_trigger_check`.execute(db);
  await sql`
    ALTER TABLE backfill_runs ADD CONSTRAINT backfill_runs_trigger_check
      CHECK (trigger IN ('enable', 'manual', 'verify'))
  `.execute(db);
  // row_id, not id: the page query joins this to the resource's table, whose bare `id` it names.
  await sql`
    CREATE TABLE backfill_run_rows (
      run_id uuid NOT NULL REFERENCES backfill_runs (id) ON DELETE CASCADE,
      resource text NOT NULL,
      row_id uuid NOT NULL,
      PRIMARY KEY (run_id, resource, row_id)
    )
  `.execute(db);
  await sql`
    ALTER TABLE verifications
      ADD COLUMN repair boolean NOT NULL DEFAULT false,
      ADD COLUMN repair_run_id uuid REFERENCES backfill_runs (id) ON DELETE SET NULL
  `.execute(db);
  // A report keeps the resources' figures under `resources`, beside what a repair did.
  await sql`
    UPDATE verifications SET report = jsonb_build_object('resources', report)
    WHERE report IS NOT NULL AND NOT report ? 'resources'
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`UPDATE verifications SET report = report->'resources' WHERE report ? 'resources'`.execute(
    db,
  );
  await sql`ALTER TABLE verifications DROP COLUMN repair, DROP COLUMN repair_run_id`.execute(db);
  await sql`DROP TABLE backfill_run_rows`.execute(db);
  await sql`DELETE FROM backfill_runs WHERE trigger = 'verify'`.execute(db);
  await sql`ALTER TABLE backfill_runs DROP CONSTRAINT backfill_runs_trigger_check`.execute(db);
  await sql`
    ALTER TABLE backfill_runs ADD CONSTRAINT backfill_runs_trigger_check
      CHECK (trigger IN ('enable', 'manual'))
  `.execute(db);
}
