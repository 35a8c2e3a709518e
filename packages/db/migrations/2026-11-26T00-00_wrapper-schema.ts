/**
 * The wrapper platform's source-of-truth tables. Frozen: later changes go in new migrations. Every
 * domain row carries `version` and `updated_at`, both maintained by one trigger so that no caller
 * can forget them (docs/decisions/0005-versions-make-events-commute.md).
 */
import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE FUNCTION bump_row_version() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      NEW.version := OLD.version + 1;
      NEW.updated_at := now();
      RETURN NEW;
    END
    $$
  `.execute(db);

  await sql`
    CREATE TABLE tenants (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      name text NOT NULL UNIQUE,
      version bigint NOT NULL DEFAULT 1,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    )
  `.execute(db);

  await sql`
    CREATE TABLE applications (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      code text NOT NULL UNIQUE CHECK (code ~ '^[a-z][a-z0-9_-]{0,62}$'),
      name text NOT NULL,
      version bigint NOT NULL DEFAULT 1,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    )
  `.execute(db);

  await sql`
    CREATE TABLE entities (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
      entity_type text NOT NULL,
      code text NOT NULL,
      name text NOT NULL,
      description text,
      industry text,
      website text,
      parent_id uuid REFERENCES entities (id),
      is_active boolean NOT NULL DEFAULT true,
      version bigint NOT NULL DEFAULT 1,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      UNIQUE (tenant_id, code)
    )
  `.execute(db);
  // Keyset paging per tenant and type (decision 3), and date filters on creation time.
  await sql`CREATE INDEX entities_tenant_type_id ON entities (tenant_id, entity_type, id)`.execute(
    db,
  );
  await sql`CREATE INDEX entities_tenant_created ON entities (tenant_id, created_at)`.execute(db);

  await sql`
    CREATE TABLE credit_allocations (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
      entity_id uuid NOT NULL REFERENCES entities (id),
      target_application text NOT NULL REFERENCES applications (code),
      allocated_amount bigint NOT NULL CHECK (allocated_amount >= 0),
      available_credits bigint NOT NULL CHECK (available_credits >= 0),
      expires_at timestamptz,
      is_active boolean NOT NULL DEFAULT true,
      allocated_at timestamptz NOT NULL DEFAULT now(),
      version bigint NOT NULL DEFAULT 1,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    )
  `.execute(db);
  await sql`CREATE INDEX credit_allocations_tenant_id ON credit_allocations (tenant_id, id)`.execute(
    db,
  );
  await sql`
    CREATE INDEX credit_allocations_tenant_app_id
      ON credit_allocations (tenant_id, target_application, id) WHERE is_active
  `.execute(db);
  await sql`
    CREATE INDEX credit_allocations_tenant_allocated
      ON credit_allocations (tenant_id, allocated_at)
  `.execute(db);

  await sql`
    CREATE TABLE organization_memberships (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
      user_id uuid NOT NULL,
      organization_id uuid NOT NULL REFERENCES entities (id),
      role text NOT NULL,
      is_active boolean NOT NULL DEFAULT true,
      version bigint NOT NULL DEFAULT 1,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    )
  `.execute(db);
  await sql`
    CREATE INDEX organization_memberships_tenant_active_id
      ON organization_memberships (tenant_id, id) WHERE is_active
  `.execute(db);
  await sql`
    CREATE INDEX organization_memberships_tenant_created
      ON organization_memberships (tenant_id, created_at)
  `.execute(db);
  await sql`
    CREATE INDEX organization_memberships_organization
      ON organization_memberships (organization_id)
  `.execute(db);

  await sql`
    CREATE TABLE organization_applications (
      tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
      application_id uuid NOT NULL REFERENCES applications (id),
      is_enabled boolean NOT NULL,
      enabled_at timestamptz,
      disabled_at timestamptz,
      version bigint NOT NULL DEFAULT 1,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (tenant_id, application_id)
    )
  `.execute(db);

  for (const table of [
    'tenants',
    'applications',
    'entities',
    'credit_allocations',
    'organization_memberships',
    'organization_applications',
  ]) {
    await sql`
      CREATE TRIGGER ${sql.id(`${table}_bump_version`)}
        BEFORE UPDATE ON ${sql.table(table)}
        FOR EACH ROW EXECUTE FUNCTION bump_row_version()
    `.execute(db);
  }

  // The applications the platform ships with; more can be added as rows.
  await sql`
    INSERT INTO applications (code, name) VALUES
      ('crm', 'CRM'), ('hr', 'HR'), ('affiliate', 'Affiliate')
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of [
    'organization_applications',
    'organization_memberships',
    'credit_allocations',
    'entities',
    'applications',
    'tenants',
  ]) {
    await sql`DROP TABLE ${sql.table(table)}`.execute(db);
  }
  await sql`DROP FUNCTION bump_row_version()`.execute(db);
}
