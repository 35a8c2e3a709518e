/**
 * The transactional outbox (docs/decisions/0006-transactional-outbox.md): a write inserts its event
 * here in the same transaction as the row change; the relay publishes and marks it. A
 * statement-level trigger NOTIFYs the relay so it wakes at once instead of waiting for its poll.
 */
import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE outbox (
      id bigserial PRIMARY KEY,
      tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
      aggregate text NOT NULL CHECK (aggregate IN ('credit', 'organization', 'membership')),
      aggregate_id uuid NOT NULL,
      event_type text NOT NULL,
      version bigint NOT NULL,
      payload jsonb NOT NULL,
      created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
      published_at timestamptz
    )
  `.execute(db);
  await sql`CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL`.execute(db);
  // The relay's per-entity order check: earlier unpublished rows of the same entity.
  await sql`
    CREATE INDEX outbox_unpublished_aggregate ON outbox (aggregate_id, id)
      WHERE published_at IS NULL
  `.execute(db);
  await sql`
    CREATE INDEX outbox_published_at ON outbox (published_at) WHERE published_at IS NOT NULL
  `.execute(db);
  await sql`
    CREATE INDEX outbox_tenant_unpublished ON outbox (tenant_id, id) WHERE published_at IS NULL
  `.execute(db);

  await sql`
    CREATE FUNCTION notify_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      PERFORM pg_notify('outbox_new', '');
      RETURN NULL;
    END
    $$
  `.execute(db);
  await sql`
    CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
      FOR EACH STATEMENT EXECUTE FUNCTION notify_outbox()
  `.execute(db);

  // One active membership per user and organization: a second one is a conflict.
  await sql`
    CREATE UNIQUE INDEX organization_memberships_one_active
      ON organization_memberships (organization_id, user_id) WHERE is_active
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP INDEX organization_memberships_one_active`.execute(db);
  await sql`DROP TABLE outbox`.execute(db);
  await sql`DROP FUNCTION notify_outbox()`.execute(db);
}
