/**
 * The CRM's own tables: its projection of the wrapper's data, per tenant. Removed rows stay as
 * tombstones (is_active false, with their version) so late, older events cannot revive them;
 * state columns are nullable because a removal may arrive before the creation it removes.
 */
import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE crm_organizations (
      id uuid PRIMARY KEY,
      tenant_id uuid NOT NULL,
      code text,
      name text,
      description text,
      industry text,
      website text,
      parent_id uuid,
      is_active boolean NOT NULL,
      version bigint NOT NULL,
      synced_at timestamptz NOT NULL DEFAULT now()
    )
  `.execute(db);
  await sql`
    CREATE TABLE crm_memberships (
      id uuid PRIMARY KEY,
      tenant_id uuid NOT NULL,
      user_id uuid,
      organization_id uuid,
      role text,
      is_active boolean NOT NULL,
      version bigint NOT NULL,
      synced_at timestamptz NOT NULL DEFAULT now()
    )
  `.execute(db);
  await sql`
    CREATE TABLE crm_credit_allocations (
      id uuid PRIMARY KEY,
      tenant_id uuid NOT NULL,
      entity_id uuid,
      amount bigint,
      available_credits bigint,
      expires_at timestamptz,
      is_active boolean NOT NULL,
      version bigint NOT NULL,
      synced_at timestamptz NOT NULL DEFAULT now()
    )
  `.execute(db);
  for (const table of ['crm_organizations', 'crm_memberships', 'crm_credit_allocations']) {
    await sql`CREATE INDEX ${sql.id(`${table}_tenant`)} ON ${sql.table(table)} (tenant_id)`.execute(
      db,
    );
  }
  await sql`CREATE TABLE crm_processed_events (event_id text PRIMARY KEY)`.execute(db);
  await sql`
    CREATE TABLE crm_sync_runs (
      run_id uuid PRIMARY KEY,
      tenant_id uuid NOT NULL,
      resources text[] NOT NULL,
      completed_resources text[] NOT NULL DEFAULT '{}',
      counts jsonb,
      started_at timestamptz NOT NULL DEFAULT now(),
      completed_at timestamptz
    )
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of [
    'crm_sync_runs',
    'crm_processed_events',
    'crm_credit_allocations',
    'crm_memberships',
    'crm_organizations',
  ]) {
    await sql`DROP TABLE ${sql.table(table)}`.execute(db);
  }
}
