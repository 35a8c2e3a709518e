/**
 * Run controls as a barrier (docs/decisions/0009-controls-are-barriers.md): every pause, resume and
 * cancel takes a number from one sequence, written both to the run row and to the run's control
 * keys in Redis, so a worker can tell the newest control from an older or rolled-back one. A
 * sequence, not a column counter: numbers taken by a transaction that rolls back are never handed
 * out again.
 */
import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`CREATE SEQUENCE backfill_run_control_seq`.execute(db);
  await sql`ALTER TABLE backfill_runs ADD COLUMN control_seq bigint NOT NULL DEFAULT 0`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE backfill_runs DROP COLUMN control_seq`.execute(db);
  await sql`DROP SEQUENCE backfill_run_control_seq`.execute(db);
}
