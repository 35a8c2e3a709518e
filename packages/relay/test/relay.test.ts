import { streamName } from '@historical-sync/contracts';
import { outboxBacklog } from '@historical-sync/db';
import { createTestDatabase, type TestDatabase } from '@historical-sync/db/testing';
import { allocateCredits, updateOrganization } from '@historical-sync/domain';
import { Redis } from 'ioredis';
import { sql } from 'kysely';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OutboxRelay } from '../src/index';
import {
  createOrganizations,
  createTenant,
  readEvents,
  setEnabled,
  uniquePrefix,
  unpublishedCount,
} from './helpers';

describe('outbox relay', () => {
  let test: TestDatabase;
  let redis: Redis;
  const logger = pino({ level: 'silent' });
  beforeAll(async () => {
    test = await createTestDatabase('relay');
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

  const relayFor = (
    prefix: string,
    options: Partial<ConstructorParameters<typeof OutboxRelay>[0]> = {},
  ) => new OutboxRelay({ db: test.db, redis, streamPrefix: prefix, logger, ...options });
  const drain = async (relay: OutboxRelay) => {
    for (;;) {
      const batch = await relay.relayBatch();
      if (batch.rows + batch.failed === 0) return;
    }
  };

  it('publishes to the streams of enabled applications only, and to newly enabled ones afterwards', async () => {
    const prefix = uniquePrefix();
    const tenantId = await createTenant(test.db, 'crm-not-hr');
    await setEnabled(test.db, tenantId, 'crm', true);
    await setEnabled(test.db, tenantId, 'hr', false);
    const relay = relayFor(prefix);

    const [org] = await createOrganizations(test.db, tenantId, 1, 'first');
    if (!org) throw new Error('no org');
    await allocateCredits(test.db, tenantId, {
      entityId: org.id,
      targetApplication: 'hr',
      amount: 10,
    });
    await allocateCredits(test.db, tenantId, {
      entityId: org.id,
      targetApplication: 'crm',
      amount: 20,
    });
    await drain(relay);

    const crmOrgs = await readEvents(redis, streamName('org.created', 'crm', prefix));
    expect(crmOrgs).toHaveLength(1);
    expect(crmOrgs[0]).toMatchObject({
      entityId: org.id,
      version: 1,
      runId: null,
      metadata: { targetApplication: 'crm', isHistoricalSync: false },
    });
    expect(await redis.exists(streamName('org.created', 'hr', prefix))).toBe(0);
    const credits = await readEvents(redis, streamName('credit.allocated', 'crm', prefix));
    // The hr allocation is not delivered while hr is disabled; the crm one is.
    expect(credits.map((e) => e.metadata.targetApplication)).toEqual(['crm']);
    expect(await unpublishedCount(test.db)).toBe(0);

    await setEnabled(test.db, tenantId, 'hr', true);
    await updateOrganization(test.db, tenantId, org.id, { name: 'Renamed' });
    await drain(relay);
    for (const app of ['crm', 'hr']) {
      const updates = await readEvents(redis, streamName('org.updated', app, prefix));
      expect(updates).toHaveLength(1);
      expect(updates[0]).toMatchObject({
        eventType: 'org.updated',
        name: 'Renamed',
        version: 2,
        metadata: { targetApplication: app },
      });
    }
  });

  it('wakes on NOTIFY: a committed write is on the stream well before the poll interval', async () => {
    const prefix = uniquePrefix();
    const tenantId = await createTenant(test.db, 'notify');
    await setEnabled(test.db, tenantId, 'crm', true);
    const relay = relayFor(prefix, { databaseUrl: test.url, pollIntervalMs: 60_000 });
    relay.start();
    try {
      // The listener's session has run its LISTEN (and is idle): a commit now sends a NOTIFY.
      await expect
        .poll(
          async () => {
            const { rows } = await sql<{ listening: number }>`
            SELECT count(*)::int AS listening FROM pg_stat_activity
            WHERE datname = current_database()
              AND application_name = 'historical-sync-relay-listen'
              AND state = 'idle' AND query ILIKE 'LISTEN %'`.execute(test.db);
            return rows[0]?.listening;
          },
          { timeout: 10_000, interval: 20 },
        )
        .toBe(1);
      await createOrganizations(test.db, tenantId, 1, 'notified');
      await expect
        .poll(() => redis.xlen(streamName('org.created', 'crm', prefix)), {
          timeout: 5_000,
          interval: 20,
        })
        .toBe(1);
    } finally {
      await relay.stop();
    }
  });

  it('two relays at once publish each row once, keeping each entity in version order', async () => {
    const prefix = uniquePrefix();
    const tenantId = await createTenant(test.db, 'two-relays');
    await setEnabled(test.db, tenantId, 'crm', true);
    const orgs = await createOrganizations(test.db, tenantId, 20, 'busy');
    // 20 organizations, each updated 15 times, interleaved across organizations.
    for (let round = 0; round < 15; round++) {
      await Promise.all(
        orgs.map((org) =>
          updateOrganization(test.db, tenantId, org.id, { name: `${org.code} r${round}` }),
        ),
      );
    }
    const relays = [relayFor(prefix, { batchSize: 37 }), relayFor(prefix, { batchSize: 23 })];
    await Promise.all(
      relays.map(async (relay) => {
        for (let i = 0; i < 200 && (await unpublishedCount(test.db)) > 0; i++)
          await relay.relayBatch();
      }),
    );
    expect(await unpublishedCount(test.db)).toBe(0);

    const created = await readEvents(redis, streamName('org.created', 'crm', prefix));
    const updated = await readEvents(redis, streamName('org.updated', 'crm', prefix));
    expect(created).toHaveLength(20);
    expect(updated).toHaveLength(300);
    expect(new Set(updated.map((e) => e.eventId)).size).toBe(300);
    for (const org of orgs) {
      const versions = updated
        .filter((e) => e.eventType === 'org.updated' && e.entityId === org.id)
        .map((e) => e.version);
      expect(versions).toEqual(Array.from({ length: 15 }, (_, i) => i + 2));
    }
  });

  it('sets aside an outbox row that is not a valid event, with its reason, and publishes the rest', async () => {
    const prefix = uniquePrefix();
    const tenantId = await createTenant(test.db, 'poison');
    await setEnabled(test.db, tenantId, 'crm', true);
    const orgs = await createOrganizations(test.db, tenantId, 3, 'poison');
    const bad = orgs[1];
    if (!bad) throw new Error('no org');
    // As if edited by hand: the event's name is emptied in the outbox.
    await sql`
      UPDATE outbox SET event = replace(event, ${`"name":"poison 1"`}, '"name":""')
      WHERE tenant_id = ${tenantId} AND aggregate_id = ${bad.id}
    `.execute(test.db);

    const lines: string[] = [];
    const captured = pino({ level: 'error' }, { write: (line: string) => void lines.push(line) });
    await drain(relayFor(prefix, { logger: captured }));

    const created = await readEvents(redis, streamName('org.created', 'crm', prefix));
    expect(created.map((e) => e.entityId).sort()).toEqual(
      orgs
        .filter((o) => o.id !== bad.id)
        .map((o) => o.id)
        .sort(),
    );
    const row = await test.db
      .selectFrom('outbox')
      .select(['published_at', 'failed_reason'])
      .where('aggregate_id', '=', bad.id)
      .executeTakeFirstOrThrow();
    expect(row.published_at).toBeNull();
    expect(row.failed_reason).toMatch(/^not a valid event: name: /);
    expect(await outboxBacklog(test.db, tenantId)).toMatchObject({ unpublished: 0, failed: 1 });
    expect(lines.join('')).toContain('outbox row is not a valid event');

    // The entity's later changes are not held back behind the set-aside row.
    await updateOrganization(test.db, tenantId, bad.id, { name: 'Fixed' });
    await drain(relayFor(prefix));
    const updated = await readEvents(redis, streamName('org.updated', 'crm', prefix));
    expect(updated).toMatchObject([{ entityId: bad.id, name: 'Fixed', version: 2 }]);
  });

  it('prunes published rows past the retention and keeps unpublished ones', async () => {
    const prefix = uniquePrefix();
    const tenantId = await createTenant(test.db, 'prune');
    await setEnabled(test.db, tenantId, 'crm', true);
    await createOrganizations(test.db, tenantId, 3, 'old');
    const relay = relayFor(prefix, { retentionMs: 0 });
    await drain(relay);
    await createOrganizations(test.db, tenantId, 2, 'pending');
    const before = await test.db
      .selectFrom('outbox')
      .select(['id', 'published_at'])
      .where('tenant_id', '=', tenantId)
      .execute();
    expect(before.filter((r) => r.published_at)).toHaveLength(3);
    expect(await relay.prune()).toBeGreaterThanOrEqual(3);
    const after = await test.db
      .selectFrom('outbox')
      .select(['published_at'])
      .where('tenant_id', '=', tenantId)
      .execute();
    expect(after).toHaveLength(2);
    expect(after.every((r) => r.published_at === null)).toBe(true);
  });
});
