/**
 * Verifications of an application's copy against the source (docs/VERIFY.md): one row per
 * verification, its report as JSON (rows checked, differences by kind, per resource). The
 * console shows each application's latest; old ones are kept for the history of an application.
 */
import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE verifications (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      tenant_id uuid NOT NULL REFERENCES tenants (id),
      application_id uuid NOT NULL REFERENCES applications (id),
      app_code text NOT NULL,
      status text NOT NULL DEFAULT 'running'
        CHECK (status IN ('running', 'completed', 'failed')),
      resources text[] NOT NULL,
      started_at timestamptz NOT NULL DEFAULT now(),
      finished_at timestamptz,
      report jsonb,
      error text
    )
  `.execute(db);
  await sql`
    CREATE INDEX verifications_latest ON verifications (tenant_id, application_id, started_at DESC)
  `.execute(db);
  // The sweeper prunes by age.
  await sql`CREATE INDEX verifications_started ON verifications (started_at)`.execute(db);
  // One verification per tenant at a time: a second one of the same application would ask it the
  // same questions, and one tenant must not hold every verification slot of an API process.
  await sql`
    CREATE UNIQUE INDEX verifications_one_running ON verifications (tenant_id)
    WHERE status = 'running'
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP TABLE verifications`.execute(db);
}
