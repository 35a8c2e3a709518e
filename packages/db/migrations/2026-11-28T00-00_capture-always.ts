/**
 * Capture and versions fire always (docs/CAPTURE.md). Ordinary triggers do not fire in a session
 * whose `session_replication_role` is `replica`, which superusers set to skip foreign-key checks
 * in a bulk load, not to silence events: a row updated that way kept its version (so even a
 * backfill published its new state under an eventId consumers had already applied) and reached no
 * live stream. `ENABLE ALWAYS` makes the version, capture and NOTIFY triggers fire in every
 * session role.
 *
 * Writing without live events is a decision, and says so: a superuser sets
 * `historical_sync.capture = off` (the seed, whose rows applications receive through a backfill).
 * It is honoured for superusers only, as `replica` was, and the versions still move, so a backfill
 * always publishes a row's newest state under a new eventId. A table's owner can still disable a
 * trigger outright (`ALTER TABLE ... DISABLE TRIGGER`); `pg_trigger.tgenabled` shows it.
 */
import { type Kysely, sql } from 'kysely';

const CAPTURED = {
  entities: 'hs_capture_organizations()',
  credit_allocations: 'hs_capture_credit_allocations()',
  organization_memberships: 'hs_capture_organization_memberships()',
};
const VERSIONED = [
  'tenants',
  'applications',
  'entities',
  'credit_allocations',
  'organization_memberships',
  'organization_applications',
];

async function captureTriggers(db: Kysely<unknown>, when: 'wanted' | 'unconditional') {
  for (const [table, fn] of Object.entries(CAPTURED)) {
    for (const op of ['insert', 'update'] as const) {
      const name = sql.id(`${table}_capture_${op}`);
      await sql`DROP TRIGGER ${name} ON ${sql.table(table)}`.execute(db);
      await sql`
        CREATE TRIGGER ${name}
          AFTER ${sql.raw(op.toUpperCase())} ON ${sql.table(table)}
          REFERENCING NEW TABLE AS captured_rows
          FOR EACH STATEMENT ${sql.raw(when === 'wanted' ? 'WHEN (hs_capture_wanted())' : '')}
          EXECUTE FUNCTION ${sql.raw(fn)}
      `.execute(db);
    }
  }
}

async function setFiring(db: Kysely<unknown>, mode: 'ENABLE ALWAYS' | 'ENABLE') {
  const triggers: Array<[string, string]> = [
    ...Object.keys(CAPTURED).flatMap(
      (t): Array<[string, string]> => [
        [t, `${t}_capture_insert`],
        [t, `${t}_capture_update`],
      ],
    ),
    ...VERSIONED.map((t): [string, string] => [t, `${t}_bump_version`]),
    ['outbox', 'outbox_notify'],
  ];
  for (const [table, trigger] of triggers) {
    await sql`ALTER TABLE ${sql.table(table)} ${sql.raw(mode)} TRIGGER ${sql.id(trigger)}`.execute(
      db,
    );
  }
}

export async function up(db: Kysely<unknown>): Promise<void> {
  // Unset, or set by anyone but a superuser: capture. (A NULL here would skip the trigger.)
  await sql`
    CREATE FUNCTION hs_capture_wanted() RETURNS boolean LANGUAGE sql STABLE AS $$
      SELECT current_setting('historical_sync.capture', true) IS DISTINCT FROM 'off'
        OR current_setting('is_superuser') <> 'on'
    $$
  `.execute(db);
  await captureTriggers(db, 'wanted');
  await setFiring(db, 'ENABLE ALWAYS');
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await captureTriggers(db, 'unconditional');
  await setFiring(db, 'ENABLE');
  await sql`DROP FUNCTION hs_capture_wanted()`.execute(db);
}
