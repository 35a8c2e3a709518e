/**
 * Capture at the database: changes made with plain SQL (no service involved) become live events
 * on every enabled application's streams, exactly once per row version, and a rolled-back change
 * becomes none. The expected events are worked out from what each statement returned, not from
 * the outbox.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { EVENT_FIELD, type SyncEvent, streamName } from '@historical-sync/contracts';
import type { Db } from '@historical-sync/db';
import { createTestDatabase, type TestDatabase } from '@historical-sync/db/testing';
import { allocateCredits, deactivateAllocation } from '@historical-sync/domain';
import { findPostgresBinDir } from '@historical-sync/local-stack';
import { Redis } from 'ioredis';
import { sql } from 'kysely';
import pg from 'pg';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OutboxRelay, UNRENDERABLE } from '../src/index';
import { createTenant, setEnabled, uniquePrefix, unpublishedCount } from './helpers';

/** Every entry of the app's streams, raw, keyed by eventId (a duplicate fails the test). */
async function entriesOf(redis: Redis, app: string, prefix: string) {
  const byId = new Map<string, { stream: string; json: string; event: SyncEvent }>();
  const types = [
    'org.created',
    'org.updated',
    'org.deleted',
    'org.assignment.created',
    'org.assignment.removed',
    'credit.allocated',
  ] as const;
  const streams = new Set(types.map((t) => streamName(t, app, prefix)));
  for (const stream of streams) {
    for (const [, fields] of await redis.xrange(stream, '-', '+')) {
      const json = fields[fields.indexOf(EVENT_FIELD) + 1] as string;
      const event = JSON.parse(json) as SyncEvent;
      // credit-events is shared by every application: keep this application's own.
      if (event.metadata.targetApplication !== app) continue;
      if (byId.has(event.eventId)) throw new Error(`${event.eventId} twice on ${app}'s streams`);
      byId.set(event.eventId, { stream, json, event });
    }
  }
  return byId;
}

/** Runs `psql` on the database with `input` on its stdin (a COPY ... FROM STDIN). */
async function psql(url: string, command: string, input: string): Promise<string> {
  // The psql of the Postgres the tests run on (not necessarily on PATH).
  const binary = join(await findPostgresBinDir(), 'psql');
  return new Promise((resolve, reject) => {
    const child = spawn(binary, [url, '-v', 'ON_ERROR_STOP=1', '-qc', command]);
    let output = '';
    child.stdout.on('data', (chunk) => {
      output += chunk;
    });
    child.stderr.on('data', (chunk) => {
      output += chunk;
    });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(output) : reject(new Error(output))));
    child.stdin.end(input);
  });
}

describe('capture at the database', () => {
  let test: TestDatabase;
  let redis: Redis;
  const logger = pino({ level: 'silent' });
  beforeAll(async () => {
    test = await createTestDatabase('capture');
    redis = new Redis(process.env.REDIS_URL as string, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
    });
    await new Promise((resolve) => redis.once('ready', resolve));
  });
  afterAll(async () => {
    redis.disconnect();
    await test.destroy();
  });

  const drain = async (relay: OutboxRelay) => {
    for (;;) {
      const batch = await relay.relayBatch();
      if (batch.rows + batch.failed === 0) return;
    }
  };

  it('turns single statements, a multi-row UPDATE, a COPY of 50,000 memberships and a rolled-back transaction into exactly their events', {
    timeout: 180_000,
  }, async () => {
    const prefix = uniquePrefix();
    const tenantId = await createTenant(test.db, 'plain-sql');
    await setEnabled(test.db, tenantId, 'crm', true);
    await setEnabled(test.db, tenantId, 'hr', true);
    await setEnabled(test.db, tenantId, 'affiliate', false);
    const relay = new OutboxRelay({ db: test.db, redis, streamPrefix: prefix, logger });
    /** eventId -> the state the event must carry; per application below. */
    const expected = new Map<string, { eventType: string; fields: Record<string, unknown> }>();
    const expect_ = (
      aggregate: string,
      row: { id: string; version: string | number },
      eventType: string,
      fields: Record<string, unknown> = {},
    ) => expected.set(`${aggregate}:${row.id}:v${row.version}`, { eventType, fields });

    // Single statements, as psql or an admin script would run them.
    const orgs = (
      await sql<{ id: string; version: string; name: string }>`
        INSERT INTO entities (tenant_id, entity_type, code, name)
        SELECT ${tenantId}, 'organization', 'sql-' || i, 'SQL org ' || i FROM generate_series(1, 5) i
        RETURNING id, version, name
      `.execute(test.db)
    ).rows;
    for (const org of orgs) expect_('organization', org, 'org.created', { name: org.name });
    // Not an organization: no event.
    await sql`
      INSERT INTO entities (tenant_id, entity_type, code, name)
      VALUES (${tenantId}, 'department', 'dept-1', 'A department')
    `.execute(test.db);
    const [first, second] = orgs as [(typeof orgs)[0], (typeof orgs)[0]];
    const credits = (
      await sql<{ id: string; version: string; target_application: string; amount: string }>`
        INSERT INTO credit_allocations
          (tenant_id, entity_id, target_application, allocated_amount, available_credits)
        VALUES (${tenantId}, ${first.id}, 'crm', 100, 100),
               (${tenantId}, ${first.id}, 'hr', 50, 50),
               (${tenantId}, ${first.id}, 'affiliate', 70, 70)
        RETURNING id, version, target_application, allocated_amount AS amount
      `.execute(test.db)
    ).rows;
    for (const credit of credits) {
      expect_('credit', credit, 'credit.allocated', { amount: Number(credit.amount) });
    }
    // A multi-row UPDATE: one event per row, with the new version.
    const renamed = (
      await sql<{ id: string; version: string; name: string }>`
        UPDATE entities SET name = name || ' (renamed)'
        WHERE tenant_id = ${tenantId} AND entity_type = 'organization'
        RETURNING id, version, name
      `.execute(test.db)
    ).rows;
    expect(renamed).toHaveLength(5);
    for (const org of renamed) expect_('organization', org, 'org.updated', { name: org.name });
    // Deactivations by hand: org.deleted and credit.deactivated (the expiry has not passed).
    const deleted = (
      await sql<{ id: string; version: string }>`
        UPDATE entities SET is_active = false WHERE id = ${second.id} RETURNING id, version
      `.execute(test.db)
    ).rows[0];
    if (!deleted) throw new Error('no row');
    expect_('organization', deleted, 'org.deleted', { isActive: false });
    const deactivated = (
      await sql<{ id: string; version: string }>`
        UPDATE credit_allocations SET is_active = false
        WHERE tenant_id = ${tenantId} AND target_application = 'crm' RETURNING id, version
      `.execute(test.db)
    ).rows[0];
    if (!deactivated) throw new Error('no row');
    expect_('credit', deactivated, 'credit.deactivated', { reason: 'deactivated' });

    // A COPY of 50,000 memberships through psql, spread over the five organizations.
    const lines = Array.from(
      { length: 50_000 },
      (_, i) => `${tenantId}\t${randomUUID()}\t${orgs[i % 5]?.id}\tmember\n`,
    ).join('');
    await psql(
      test.url,
      'COPY organization_memberships (tenant_id, user_id, organization_id, role) FROM STDIN',
      lines,
    );
    const copied = (
      await sql<{ id: string; version: string }>`
        SELECT id, version FROM organization_memberships WHERE tenant_id = ${tenantId}
      `.execute(test.db)
    ).rows;
    expect(copied).toHaveLength(50_000);
    for (const m of copied) expect_('membership', m, 'org.assignment.created');

    // A transaction that rolls back: its changes never happened, and neither did their events.
    const rolledBackCode = 'never';
    await test.db
      .transaction()
      .execute(async (trx) => {
        await sql`
          INSERT INTO entities (tenant_id, entity_type, code, name)
          VALUES (${tenantId}, 'organization', ${rolledBackCode}, 'Never')
        `.execute(trx);
        await sql`UPDATE entities SET name = 'rolled back' WHERE id = ${first.id}`.execute(trx);
        await sql`
          UPDATE organization_memberships SET is_active = false
          WHERE tenant_id = ${tenantId} AND organization_id = ${first.id}
        `.execute(trx);
        throw new Error('roll back');
      })
      .catch((error: Error) => expect(error.message).toBe('roll back'));

    await drain(relay);
    expect(await unpublishedCount(test.db)).toBe(0);

    for (const app of ['crm', 'hr']) {
      const entries = await entriesOf(redis, app, prefix);
      // Credits go to their own application only; everything else to every enabled one.
      const mine = [...expected].filter(
        ([eventId]) =>
          !eventId.startsWith('credit:') ||
          credits.find((c) => eventId.startsWith(`credit:${c.id}:`))?.target_application === app,
      );
      expect([...entries.keys()].sort()).toEqual(mine.map(([eventId]) => eventId).sort());
      // One comparison for all (100,000 separate expects would take most of the test's time):
      // each event's type, delivery and the fields its statement returned.
      const project = (event: Record<string, unknown> | undefined, fields: object) => ({
        eventType: event?.eventType,
        tenantId: event?.tenantId,
        runId: event?.runId,
        metadata: {
          targetApplication: (event?.metadata as Record<string, unknown>)?.targetApplication,
          isHistoricalSync: (event?.metadata as Record<string, unknown>)?.isHistoricalSync,
        },
        ...Object.fromEntries(Object.keys(fields).map((key) => [key, event?.[key]])),
      });
      expect(
        mine.map(([eventId, { fields }]) =>
          project(entries.get(eventId)?.event as Record<string, unknown> | undefined, fields),
        ),
      ).toEqual(
        mine.map(([, { eventType, fields }]) => ({
          eventType,
          tenantId,
          runId: null,
          metadata: { targetApplication: app, isHistoricalSync: false },
          ...fields,
        })),
      );
      expect(JSON.stringify([...entries.values()].map((e) => e.event))).not.toContain(
        'rolled back',
      );
    }
    // The disabled application received nothing.
    expect((await entriesOf(redis, 'affiliate', prefix)).size).toBe(0);

    // The live entry is the shared rendering's own bytes for that row version and application.
    const { rows } = await sql<{ event: string }>`
      SELECT hs_organization_event(e, 'org.deleted', 'hr', NULL) AS event
      FROM entities e WHERE id = ${second.id}
    `.execute(test.db);
    const hr = await entriesOf(redis, 'hr', prefix);
    expect(hr.get(`organization:${second.id}:v${deleted.version}`)?.json).toBe(rows[0]?.event);
  });

  it('gives a deactivation through the service the reason the caller named', async () => {
    const prefix = uniquePrefix();
    const tenantId = await createTenant(test.db, 'reason');
    await setEnabled(test.db, tenantId, 'crm', true);
    const { rows } = await sql<{ id: string }>`
      INSERT INTO entities (tenant_id, entity_type, code, name)
      VALUES (${tenantId}, 'organization', 'r', 'R') RETURNING id
    `.execute(test.db);
    const entityId = rows[0]?.id as string;
    const allocation = await allocateCredits(test.db, tenantId, {
      entityId,
      targetApplication: 'crm',
      amount: 5,
    });
    await deactivateAllocation(test.db, tenantId, allocation.id, 'expired');
    // The reason was local to that transaction: a later change by hand does not inherit it.
    const other = await allocateCredits(test.db, tenantId, {
      entityId,
      targetApplication: 'crm',
      amount: 6,
    });
    await sql`UPDATE credit_allocations SET is_active = false WHERE id = ${other.id}`.execute(
      test.db,
    );
    await drain(new OutboxRelay({ db: test.db, redis, streamPrefix: prefix, logger }));
    const events = await entriesOf(redis, 'crm', prefix);
    expect(events.get(`credit:${allocation.id}:v2`)?.event).toMatchObject({
      eventType: 'credit.deactivated',
      reason: 'expired',
    });
    expect(events.get(`credit:${other.id}:v2`)?.event).toMatchObject({
      eventType: 'credit.deactivated',
      reason: 'deactivated',
    });
  });

  it('sets aside, with its reason, a change the contract cannot express, and publishes the rest', async () => {
    const prefix = uniquePrefix();
    const tenantId = await createTenant(test.db, 'inexpressible');
    await setEnabled(test.db, tenantId, 'crm', true);
    const { rows } = await sql<{ id: string }>`
      INSERT INTO entities (tenant_id, entity_type, code, name)
      SELECT ${tenantId}, 'organization', 'x-' || i, 'X ' || i FROM generate_series(1, 3) i
      RETURNING id
    `.execute(test.db);
    const [renamed, outOfRange, fine] = rows.map((r) => r.id) as [string, string, string];
    // Renamed to an empty name by hand; a date no event can carry; a good change after both.
    await sql`UPDATE entities SET name = '' WHERE id = ${renamed}`.execute(test.db);
    await sql`
      UPDATE entities SET created_at = '0044-03-15 00:00:00+00 BC' WHERE id = ${outOfRange}
    `.execute(test.db);
    await sql`UPDATE entities SET name = 'Fine' WHERE id = ${fine}`.execute(test.db);

    const lines: string[] = [];
    const captured = pino({ level: 'error' }, { write: (line: string) => void lines.push(line) });
    await drain(new OutboxRelay({ db: test.db, redis, streamPrefix: prefix, logger: captured }));

    const failed = await test.db
      .selectFrom('outbox')
      .select(['aggregate_id', 'version', 'failed_reason', 'published_at'])
      .where('tenant_id', '=', tenantId)
      .where('failed_reason', 'is not', null)
      .orderBy('aggregate_id')
      .execute();
    expect(
      failed.map((r) => [r.aggregate_id, Number(r.version), r.failed_reason, r.published_at]),
    ).toEqual(
      [
        [renamed, 2, expect.stringMatching(/^not a valid event: name: /), null],
        [outOfRange, 2, UNRENDERABLE, null],
      ].sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
    );
    expect(lines.join('')).toContain('outbox row is not a valid event');
    const updated = await entriesOf(redis, 'crm', prefix);
    expect([...updated.keys()].sort()).toEqual(
      [...rows.map((r) => `organization:${r.id}:v1`), `organization:${fine}:v2`].sort(),
    );
  });

  it('captures a writer whose session has another search_path', async () => {
    const prefix = uniquePrefix();
    const tenantId = await createTenant(test.db, 'search-path');
    await setEnabled(test.db, tenantId, 'crm', true);
    const id = await test.db.transaction().execute(async (trx) => {
      await sql`CREATE SCHEMA IF NOT EXISTS scratch`.execute(trx);
      await sql`SET LOCAL search_path = scratch`.execute(trx);
      const { rows } = await sql<{ id: string }>`
        INSERT INTO public.entities (tenant_id, entity_type, code, name)
        VALUES (${tenantId}, 'organization', 'elsewhere', 'Elsewhere') RETURNING id
      `.execute(trx);
      return rows[0]?.id as string;
    });
    await drain(new OutboxRelay({ db: test.db, redis, streamPrefix: prefix, logger }));
    expect([...(await entriesOf(redis, 'crm', prefix)).keys()]).toEqual([`organization:${id}:v1`]);
  });

  it('captures writes made under session_replication_role = replica like any other: versions move, events reach the streams, the relay is woken', async () => {
    const prefix = uniquePrefix();
    const tenantId = await createTenant(test.db, 'replica-role');
    await setEnabled(test.db, tenantId, 'crm', true);
    const listener = new pg.Client({ connectionString: test.url });
    await listener.connect();
    let notified = 0;
    listener.on('notification', () => {
      notified += 1;
    });
    await listener.query('LISTEN outbox_new');
    try {
      const written = await test.db.transaction().execute(async (trx) => {
        await sql`SET LOCAL session_replication_role = replica`.execute(trx);
        const one = async <T>(query: ReturnType<typeof sql<T>>) =>
          (await query.execute(trx)).rows[0] as T;
        const org = await one(sql<{ id: string; version: number }>`
          INSERT INTO entities (tenant_id, entity_type, code, name)
          VALUES (${tenantId}, 'organization', 'replica', 'Replica') RETURNING id, version
        `);
        const renamed = await one(sql<{ version: number }>`
          UPDATE entities SET name = 'Renamed' WHERE id = ${org.id} RETURNING version
        `);
        const credit = await one(sql<{ id: string; version: number }>`
          INSERT INTO credit_allocations
            (tenant_id, entity_id, target_application, allocated_amount, available_credits)
          VALUES (${tenantId}, ${org.id}, 'crm', 7, 7) RETURNING id, version
        `);
        const membership = await one(sql<{ id: string }>`
          INSERT INTO organization_memberships (tenant_id, user_id, organization_id, role)
          VALUES (${tenantId}, ${randomUUID()}, ${org.id}, 'member') RETURNING id
        `);
        const promoted = await one(sql<{ version: number }>`
          UPDATE organization_memberships SET role = 'admin' WHERE id = ${membership.id}
          RETURNING version
        `);
        return { org, renamed, credit, membership, promoted };
      });
      // The version trigger fired: each update has a new version, so a new eventId.
      expect([written.org.version, written.renamed.version, written.promoted.version]).toEqual([
        1, 2, 2,
      ]);
      await expect.poll(() => notified, { timeout: 5_000 }).toBeGreaterThan(0);
      await drain(new OutboxRelay({ db: test.db, redis, streamPrefix: prefix, logger }));
      const events = await entriesOf(redis, 'crm', prefix);
      expect([...events.keys()].sort()).toEqual(
        [
          `organization:${written.org.id}:v1`,
          `organization:${written.org.id}:v2`,
          `credit:${written.credit.id}:v1`,
          `membership:${written.membership.id}:v1`,
          `membership:${written.membership.id}:v2`,
        ].sort(),
      );
      expect(events.get(`organization:${written.org.id}:v2`)?.event).toMatchObject({
        eventType: 'org.updated',
        name: 'Renamed',
      });
      expect(events.get(`membership:${written.membership.id}:v2`)?.event).toMatchObject({
        role: 'admin',
      });
    } finally {
      await listener.end();
    }
  });

  /** Runs `body` in a transaction that is always rolled back (roles and ownership included). */
  const rolledBack = async (body: (trx: Db) => Promise<void>) => {
    const sentinel = new Error('rolled back on purpose');
    await expect(
      test.db.transaction().execute(async (trx) => {
        await body(trx);
        throw sentinel;
      }),
    ).rejects.toBe(sentinel);
  };
  const insertOrganization = async (trx: Db, tenantId: string, code: string) =>
    (
      await sql<{ id: string }>`
        INSERT INTO entities (tenant_id, entity_type, code, name)
        VALUES (${tenantId}, 'organization', ${code}, ${code}) RETURNING id
      `.execute(trx)
    ).rows[0]?.id as string;
  const outboxRowsOf = async (trx: Db, aggregateId: string) =>
    (
      await sql<{ version: number }>`
        SELECT version FROM outbox WHERE aggregate_id = ${aggregateId} ORDER BY id
      `.execute(trx)
    ).rows.map((r) => Number(r.version));

  it('writes without events only when a superuser says so (historical_sync.capture = off), versions still moving; anyone else who says it is captured', async () => {
    const tenantId = await createTenant(test.db, 'capture-off');
    const quiet = await test.db.transaction().execute(async (trx) => {
      await sql`SET LOCAL historical_sync.capture = 'off'`.execute(trx);
      const id = await insertOrganization(trx, tenantId, 'quiet');
      await sql`UPDATE entities SET name = 'Quieter' WHERE id = ${id}`.execute(trx);
      return id;
    });
    expect(await outboxRowsOf(test.db, quiet)).toEqual([]);
    const { rows } = await sql<{ version: number }>`
      SELECT version FROM entities WHERE id = ${quiet}
    `.execute(test.db);
    expect(Number(rows[0]?.version)).toBe(2);

    const writer = `writer_${randomUUID().replaceAll('-', '')}`;
    await rolledBack(async (trx) => {
      await sql`CREATE ROLE ${sql.id(writer)}`.execute(trx);
      await sql`GRANT SELECT, INSERT, UPDATE ON entities, outbox TO ${sql.id(writer)}`.execute(trx);
      await sql`GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO ${sql.id(writer)}`.execute(trx);
      await sql`SET LOCAL ROLE ${sql.id(writer)}`.execute(trx);
      await sql`SET LOCAL historical_sync.capture = 'off'`.execute(trx);
      const id = await insertOrganization(trx, tenantId, 'not-quiet');
      expect(await outboxRowsOf(trx, id)).toEqual([1]);
    });
  });

  it('is disabled by a table owner who is not a superuser (ALTER TABLE ... DISABLE TRIGGER), which pg_trigger shows; not by a writer who does not own it', async () => {
    const tenantId = await createTenant(test.db, 'owner-disables');
    const captureTriggers = async (trx: Db) =>
      (
        await sql<{ name: string; enabled: string }>`
          SELECT tgname AS name, tgenabled AS enabled FROM pg_trigger
          WHERE tgrelid = 'entities'::regclass AND tgname LIKE '%\_capture\_%' ORDER BY tgname
        `.execute(trx)
      ).rows;
    // 'A': fires always, whatever the session's replication role.
    expect(await captureTriggers(test.db)).toEqual([
      { name: 'entities_capture_insert', enabled: 'A' },
      { name: 'entities_capture_update', enabled: 'A' },
    ]);
    const owner = `owner_${randomUUID().replaceAll('-', '')}`;
    await rolledBack(async (trx) => {
      await sql`CREATE ROLE ${sql.id(owner)} NOSUPERUSER`.execute(trx);
      await sql`ALTER TABLE entities OWNER TO ${sql.id(owner)}`.execute(trx);
      await sql`SET LOCAL ROLE ${sql.id(owner)}`.execute(trx);
      await sql`ALTER TABLE entities DISABLE TRIGGER entities_capture_insert`.execute(trx);
      expect(await captureTriggers(trx)).toContainEqual({
        name: 'entities_capture_insert',
        enabled: 'D',
      });
      const id = await insertOrganization(trx, tenantId, 'unseen');
      await sql`RESET ROLE`.execute(trx);
      expect(await outboxRowsOf(trx, id)).toEqual([]);
    });
    const writer = `writer_${randomUUID().replaceAll('-', '')}`;
    await rolledBack(async (trx) => {
      await sql`CREATE ROLE ${sql.id(writer)}`.execute(trx);
      await sql`GRANT SELECT, INSERT, UPDATE ON entities TO ${sql.id(writer)}`.execute(trx);
      await sql`SET LOCAL ROLE ${sql.id(writer)}`.execute(trx);
      await expect(
        sql`ALTER TABLE entities DISABLE TRIGGER entities_capture_insert`.execute(trx),
      ).rejects.toThrow(/must be owner of table entities/);
    });
  });

  it('refuses at the source a credit amount no JSON reader holds exactly (2^53 or more); 2^53 - 1 is published exactly, as the backfill renders it', async () => {
    const prefix = uniquePrefix();
    const tenantId = await createTenant(test.db, 'exact-amounts');
    await setEnabled(test.db, tenantId, 'crm', true);
    const entityId = await insertOrganization(test.db, tenantId, 'rich');
    const largest = '9007199254740991'; // 2^53 - 1
    const refused = /violates check constraint "credit_allocations_amounts_exact_in_json"/;
    const insert = (amount: string, available: string) =>
      sql<{ id: string }>`
        INSERT INTO credit_allocations
          (tenant_id, entity_id, target_application, allocated_amount, available_credits)
        VALUES (${tenantId}, ${entityId}, 'crm', ${amount}::bigint, ${available}::bigint)
        RETURNING id
      `.execute(test.db);
    await expect(insert('9007199254740992', '0')).rejects.toThrow(refused);
    await expect(insert('9223372036854775807', '0')).rejects.toThrow(refused);
    await expect(insert('9007199254740992', '9007199254740992')).rejects.toThrow(refused);
    const id = (await insert(largest, largest)).rows[0]?.id as string;
    await expect(
      sql`UPDATE credit_allocations SET allocated_amount = allocated_amount + 1 WHERE id = ${id}`.execute(
        test.db,
      ),
    ).rejects.toThrow(refused);
    // Under replica too: a CHECK is no trigger.
    await expect(
      test.db.transaction().execute(async (trx) => {
        await sql`SET LOCAL session_replication_role = replica`.execute(trx);
        await sql`UPDATE credit_allocations SET available_credits = 9007199254740992 WHERE id = ${id}`.execute(
          trx,
        );
      }),
    ).rejects.toThrow(refused);

    await drain(new OutboxRelay({ db: test.db, redis, streamPrefix: prefix, logger }));
    const events = await entriesOf(redis, 'crm', prefix);
    expect([...events.keys()]).toEqual([`organization:${entityId}:v1`, `credit:${id}:v1`]);
    const live = events.get(`credit:${id}:v1`)?.json as string;
    expect(live).toContain(`"amount":${largest},"availableCredits":${largest},`);
    // The backfill's page query renders with the same function, for its run.
    const { rows } = await sql<{ event: string }>`
      SELECT hs_credit_event(c, 'credit.allocated', ${randomUUID()}, NULL) AS event
      FROM credit_allocations c WHERE id = ${id}
    `.execute(test.db);
    const historical = JSON.parse(rows[0]?.event as string) as Record<string, unknown>;
    expect(rows[0]?.event).toContain(`"amount":${largest},"availableCredits":${largest},`);
    expect([historical.amount, historical.availableCredits]).toEqual([2 ** 53 - 1, 2 ** 53 - 1]);
  });
});
