/**
 * Capture at the database (docs/CAPTURE.md): every committed insert and update of an
 * organization, credit allocation or membership, whoever made it (the services, psql, a
 * migration, a COPY), puts its event in the outbox in the same transaction.
 *
 * One rendering of each event: the `hs_*_event` functions below turn a row version into its
 * event JSON. The capture triggers call them for live events (no run, no application yet: the
 * relay names the application per delivery) and the backfill's page query calls them for
 * historical ones (with the run and the application), so both paths write the same bytes for the
 * same row version. They are plain `LANGUAGE sql` expressions, which the planner inlines: the
 * backfill pays no function call per row.
 *
 * The triggers are statement-level with transition tables: a COPY of 50,000 rows or a multi-row
 * UPDATE is one INSERT ... SELECT into the outbox, not 50,000. Postgres allows a transition table
 * on a trigger of one event only, hence an INSERT and an UPDATE trigger per table, sharing one
 * function. Like every ordinary trigger they do not fire in a session whose
 * `session_replication_role` is `replica` (superusers only): restores and the seed use that on
 * purpose, for rows that applications receive through a backfill instead.
 *
 * Hard DELETEs and TRUNCATE are not captured: the platform deletes by deactivating, and the event
 * contract has no event for a row that is gone.
 */
import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  // The event text, in the order the rendering writes its keys (jsonb would reorder them). NULL
  // when the row version cannot be rendered (a timestamp outside years 0001-9999): the relay sets
  // such a row aside with its reason. `payload` stays for rows written before capture.
  await sql`ALTER TABLE outbox ADD COLUMN event text`.execute(db);
  await sql`ALTER TABLE outbox ALTER COLUMN payload DROP NOT NULL`.execute(db);

  // ISO-8601 in UTC with milliseconds and a Z, as JavaScript's toISOString() writes it, quoted.
  // Only years 0001-9999 have that form (to_char would print a BC year without its era, and year
  // 10000 with five digits): any other instant, and +/-infinity, is NULL, which makes the whole
  // event NULL.
  await sql`
    CREATE FUNCTION hs_instant_json(t timestamptz) RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE AS $$
      SELECT CASE WHEN t >= '0001-01-01T00:00:00Z' AND t < '10000-01-01T00:00:00Z'
        THEN to_char(t AT TIME ZONE 'UTC', '\\"YYYY-MM-DD"T"HH24:MI:SS.MS"Z\\"') END
    $$
  `.execute(db);
  // An optional instant: NULL and an 'infinity' expiry are JSON null (no expiry).
  await sql`
    CREATE FUNCTION hs_optional_instant_json(t timestamptz) RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE AS $$
      SELECT CASE WHEN t IS NULL OR t = 'infinity' THEN 'null' ELSE hs_instant_json(t) END
    $$
  `.execute(db);

  // String concatenation, not json_build_object: about three times cheaper. Text that may need
  // escaping goes through to_json; uuids, numbers, booleans, event types and application codes
  // (a CHECK limits them to [a-z0-9_-]) need none. A live event has no run (runId null,
  // isHistoricalSync false); a historical one has its run. The parentheses group what depends
  // only on the arguments, so that the planner folds each group into one constant when the
  // backfill passes constants: fewer concatenations per row. `tenant`, the row's tenant id as
  // text, is for a caller that knows it (the backfill: a page is one tenant's), saving a uuid to
  // text conversion per row; NULL takes the row's own.
  await sql`
    CREATE FUNCTION hs_organization_event(
      o entities, event_type text, target_application text, run_id uuid, tenant text DEFAULT NULL
    ) RETURNS text LANGUAGE sql STABLE PARALLEL SAFE AS $$
      SELECT '{"eventId":"organization:' || o.id || ':v' || o.version
        || ('","tenantId":"' || coalesce(tenant, o.tenant_id::text) || '","version":') || o.version
        || ',"occurredAt":' || hs_instant_json(o.updated_at)
        || (',"runId":' || coalesce('"' || run_id || '"', 'null')
            || ',"eventType":"' || event_type || '","entityId":"') || o.id || '","code":' || to_json(o.code)::text
        || ',"name":' || to_json(o.name)::text
        || ',"description":' || coalesce(to_json(o.description)::text, 'null')
        || ',"industry":' || coalesce(to_json(o.industry)::text, 'null')
        || ',"website":' || coalesce(to_json(o.website)::text, 'null')
        || ',"parentId":' || coalesce('"' || o.parent_id || '"', 'null')
        || ',"isActive":' || o.is_active::text
        || (',"metadata":{"targetApplication":' || coalesce('"' || target_application || '"', 'null')
            || ',"isHistoricalSync":' || (run_id IS NOT NULL)::text || ',"originalCreatedAt":')
        || hs_instant_json(o.created_at) || '}}'
    $$
  `.execute(db);
  // A credit allocation belongs to one application: its own target_application, whoever
  // delivers it. The reason only on credit.deactivated, as the last key.
  await sql`
    CREATE FUNCTION hs_credit_event(
      c credit_allocations, event_type text, run_id uuid, reason text, tenant text DEFAULT NULL
    ) RETURNS text LANGUAGE sql STABLE PARALLEL SAFE AS $$
      SELECT '{"eventId":"credit:' || c.id || ':v' || c.version
        || ('","tenantId":"' || coalesce(tenant, c.tenant_id::text) || '","version":') || c.version
        || ',"occurredAt":' || hs_instant_json(c.updated_at)
        || (',"runId":' || coalesce('"' || run_id || '"', 'null')
            || ',"eventType":"' || event_type || '","entityId":"') || c.entity_id || '","amount":' || c.allocated_amount
        || ',"availableCredits":' || c.available_credits
        || ',"expiresAt":' || hs_optional_instant_json(c.expires_at)
        || ',"metadata":{"allocationId":"' || c.id
        || '","targetApplication":' || to_json(c.target_application)::text
        || (',"isHistoricalSync":' || (run_id IS NOT NULL)::text || ',"originalAllocatedAt":')
        || hs_instant_json(c.allocated_at) || ('}' || coalesce(',"reason":' || to_json(reason)::text, '') || '}')
    $$
  `.execute(db);
  await sql`
    CREATE FUNCTION hs_membership_event(
      m organization_memberships, event_type text, target_application text, run_id uuid,
      tenant text DEFAULT NULL
    ) RETURNS text LANGUAGE sql STABLE PARALLEL SAFE AS $$
      SELECT '{"eventId":"membership:' || m.id || ':v' || m.version
        || ('","tenantId":"' || coalesce(tenant, m.tenant_id::text) || '","version":') || m.version
        || ',"occurredAt":' || hs_instant_json(m.updated_at)
        || (',"runId":' || coalesce('"' || run_id || '"', 'null')
            || ',"eventType":"' || event_type || '","membershipId":"') || m.id || '","userId":"' || m.user_id
        || '","entityId":"' || m.organization_id || '","organizationId":"' || m.organization_id
        || '","role":' || to_json(m.role)::text
        || (',"metadata":{"targetApplication":' || coalesce('"' || target_application || '"', 'null')
            || ',"isHistoricalSync":' || (run_id IS NOT NULL)::text || ',"originalCreatedAt":')
        || hs_instant_json(m.created_at) || '}}'
    $$
  `.execute(db);

  // The trigger functions keep the search_path they were created with, so that a writer whose
  // session has another one (a script in its own schema) still reaches the outbox instead of
  // failing its write. The rendering functions take none: a SET clause would stop the inlining.
  //
  // Which event a row version is, from its state (not from what changed): a consumer applying
  // by version needs only the latest state. Organizations: created on insert, deleted when
  // inactive, updated otherwise. Credit allocations: deactivated when inactive, allocated on
  // insert, updated otherwise. Memberships have no update event: removed when inactive, created
  // (the membership's current state, newer version) otherwise.
  await sql`
    CREATE FUNCTION hs_capture_organizations() RETURNS trigger LANGUAGE plpgsql
    SET search_path FROM CURRENT AS $$
    BEGIN
      INSERT INTO outbox (tenant_id, aggregate, aggregate_id, event_type, version, event)
      SELECT o.tenant_id, 'organization', o.id, e.event_type, o.version,
             hs_organization_event(o, e.event_type, NULL, NULL)
      FROM captured_rows o,
           LATERAL (SELECT CASE
             WHEN TG_OP = 'INSERT' THEN 'org.created'
             WHEN NOT o.is_active THEN 'org.deleted'
             ELSE 'org.updated' END AS event_type) e
      WHERE o.entity_type = 'organization';
      RETURN NULL;
    END
    $$
  `.execute(db);
  // The reason of a deactivation: what the writer said (the service sets
  // historical_sync.deactivation_reason for its transaction), else 'expired' when the expiry has
  // passed, else 'deactivated'.
  await sql`
    CREATE FUNCTION hs_capture_credit_allocations() RETURNS trigger LANGUAGE plpgsql
    SET search_path FROM CURRENT AS $$
    DECLARE
      said text := nullif(current_setting('historical_sync.deactivation_reason', true), '');
    BEGIN
      INSERT INTO outbox (tenant_id, aggregate, aggregate_id, event_type, version, event)
      SELECT c.tenant_id, 'credit', c.id, e.event_type, c.version,
             hs_credit_event(c, e.event_type, NULL, CASE WHEN NOT c.is_active THEN
               coalesce(said, CASE WHEN c.expires_at <= now() THEN 'expired' ELSE 'deactivated' END)
             END)
      FROM captured_rows c,
           LATERAL (SELECT CASE
             WHEN NOT c.is_active THEN 'credit.deactivated'
             WHEN TG_OP = 'INSERT' THEN 'credit.allocated'
             ELSE 'credit.updated' END AS event_type) e;
      RETURN NULL;
    END
    $$
  `.execute(db);
  await sql`
    CREATE FUNCTION hs_capture_organization_memberships() RETURNS trigger LANGUAGE plpgsql
    SET search_path FROM CURRENT AS $$
    BEGIN
      INSERT INTO outbox (tenant_id, aggregate, aggregate_id, event_type, version, event)
      SELECT m.tenant_id, 'membership', m.id, e.event_type, m.version,
             hs_membership_event(m, e.event_type, NULL, NULL)
      FROM captured_rows m,
           LATERAL (SELECT CASE WHEN m.is_active THEN 'org.assignment.created'
             ELSE 'org.assignment.removed' END AS event_type) e;
      RETURN NULL;
    END
    $$
  `.execute(db);

  for (const table of ['entities', 'credit_allocations', 'organization_memberships']) {
    const fn = sql.raw(`hs_capture_${table === 'entities' ? 'organizations' : table}()`);
    for (const op of ['insert', 'update'] as const) {
      await sql`
        CREATE TRIGGER ${sql.id(`${table}_capture_${op}`)}
          AFTER ${sql.raw(op.toUpperCase())} ON ${sql.table(table)}
          REFERENCING NEW TABLE AS captured_rows
          FOR EACH STATEMENT EXECUTE FUNCTION ${fn}
      `.execute(db);
    }
  }
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of ['entities', 'credit_allocations', 'organization_memberships']) {
    for (const op of ['insert', 'update']) {
      await sql`DROP TRIGGER ${sql.id(`${table}_capture_${op}`)} ON ${sql.table(table)}`.execute(
        db,
      );
    }
  }
  await sql`
    DROP FUNCTION hs_capture_organizations(), hs_capture_credit_allocations(),
      hs_capture_organization_memberships(),
      hs_organization_event(entities, text, text, uuid, text),
      hs_credit_event(credit_allocations, text, uuid, text, text),
      hs_membership_event(organization_memberships, text, text, uuid, text),
      hs_optional_instant_json(timestamptz), hs_instant_json(timestamptz)
  `.execute(db);
  // Back to jsonb payloads for the relay of the previous version; a row with no event at all
  // (never publishable) cannot be kept under NOT NULL.
  await sql`UPDATE outbox SET payload = event::jsonb WHERE payload IS NULL AND event IS NOT NULL`.execute(
    db,
  );
  await sql`DELETE FROM outbox WHERE payload IS NULL`.execute(db);
  await sql`ALTER TABLE outbox ALTER COLUMN payload SET NOT NULL`.execute(db);
  await sql`ALTER TABLE outbox DROP COLUMN event`.execute(db);
}
