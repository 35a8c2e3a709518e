/**
 * API keys: only a SHA-256 digest of each key is stored (keys are 256-bit random values, so a
 * fast digest is enough and a lookup is one index probe). A key is either a platform admin's
 * (`tenant_id` null) or scoped to one tenant. Revoked keys stay for the audit trail.
 */
import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE api_keys (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      name text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
      key_digest bytea NOT NULL UNIQUE,
      key_prefix text NOT NULL,
      tenant_id uuid REFERENCES tenants (id) ON DELETE CASCADE,
      created_at timestamptz NOT NULL DEFAULT now(),
      revoked_at timestamptz
    )
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP TABLE api_keys`.execute(db);
}
