/**
 * Backfill runs: one row per enablement (or manual sync), one row per selected resource.
 * Redis holds the authoritative publish checkpoint; these rows mirror it for status and history.
 */
import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE backfill_runs (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
      application_id uuid NOT NULL REFERENCES applications (id),
      app_code text NOT NULL,
      status text NOT NULL DEFAULT 'queued'
        CHECK (status IN ('queued', 'running', 'paused', 'completed', 'failed', 'cancelled')),
      trigger text NOT NULL CHECK (trigger IN ('enable', 'manual')),
      since_date timestamptz,
      page_size integer NOT NULL CHECK (page_size > 0),
      last_error text,
      created_at timestamptz NOT NULL DEFAULT now(),
      started_at timestamptz,
      finished_at timestamptz,
      updated_at timestamptz NOT NULL DEFAULT now()
    )
  `.execute(db);
  // At most one active run per tenant and application: a second enable or sync request finds it.
  await sql`
    CREATE UNIQUE INDEX backfill_runs_one_active
      ON backfill_runs (tenant_id, application_id)
      WHERE status IN ('queued', 'running', 'paused')
  `.execute(db);
  await sql`
    CREATE INDEX backfill_runs_tenant_app_created
      ON backfill_runs (tenant_id, application_id, created_at DESC)
  `.execute(db);
  await sql`
    CREATE INDEX backfill_runs_queued ON backfill_runs (created_at) WHERE status = 'queued'
  `.execute(db);

  await sql`
    CREATE TABLE backfill_run_resources (
      run_id uuid NOT NULL REFERENCES backfill_runs (id) ON DELETE CASCADE,
      resource text NOT NULL CHECK (resource IN ('credits', 'organizations', 'memberships')),
      status text NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'running', 'completed', 'failed', 'cancelled')),
      total integer,
      published integer NOT NULL DEFAULT 0,
      last_error text,
      started_at timestamptz,
      finished_at timestamptz,
      updated_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (run_id, resource)
    )
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP TABLE backfill_run_resources`.execute(db);
  await sql`DROP TABLE backfill_runs`.execute(db);
}
