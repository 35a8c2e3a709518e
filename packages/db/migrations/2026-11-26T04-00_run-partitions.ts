/**
 * Partitions: a resource of a run may be split into id ranges, each its own job and checkpoint,
 * so several workers share one large resource. Per-partition progress lives here; the resource
 * row keeps the totals, summed from its partitions.
 */
import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    ALTER TABLE backfill_runs
      ADD COLUMN partitions integer NOT NULL DEFAULT 1 CHECK (partitions BETWEEN 1 AND 256)
  `.execute(db);
  await sql`
    CREATE TABLE backfill_run_partitions (
      run_id uuid NOT NULL,
      resource text NOT NULL,
      partition integer NOT NULL CHECK (partition >= 0),
      status text NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'running', 'completed', 'failed', 'cancelled')),
      total integer,
      published integer NOT NULL DEFAULT 0,
      updated_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (run_id, resource, partition),
      FOREIGN KEY (run_id, resource) REFERENCES backfill_run_resources (run_id, resource) ON DELETE CASCADE
    )
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP TABLE backfill_run_partitions`.execute(db);
  await sql`ALTER TABLE backfill_runs DROP COLUMN partitions`.execute(db);
}
