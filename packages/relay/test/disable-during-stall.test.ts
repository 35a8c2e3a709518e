/**
 * A disable issued while Redis is stalled (CLIENT PAUSE WRITE, longer than the relay's lease)
 * and the relay is publishing the tenant's events: once the disable has answered, none of those
 * events reaches the application's streams, even after Redis resumes and runs what was sent to
 * it; other tenants' events go on being delivered.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { streamName } from '@historical-sync/contracts';
import { createDb, type Db } from '@historical-sync/db';
import { createTestDatabase, type TestDatabase } from '@historical-sync/db/testing';
import { type RunningService, startRedis } from '@historical-sync/local-stack';
import { Redis } from 'ioredis';
import { sql } from 'kysely';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OutboxRelay } from '../src/index';
import { createTenant, readEvents, setEnabled } from './helpers';

/** The relay's lease (its batch's idle_in_transaction_session_timeout), short for the test. */
const LEASE_MS = 2_000;
/** How long Redis stalls: well past the lease. */
const PAUSE_MS = 6_000;
const RELAY_APP = 'relay-under-stall';

describe('a disable while Redis stalls the relay', () => {
  let test: TestDatabase;
  let relayDb: Db;
  let dataDir: string;
  let server: RunningService;
  let redis: Redis;
  let admin: Redis;
  let relay: OutboxRelay | undefined;

  beforeAll(async () => {
    test = await createTestDatabase('relay_stall');
    // The relay's pool ends sessions idle in a transaction after the same lease: the setting the
    // relay had to live with before it set its own.
    relayDb = createDb({
      connectionString: test.url,
      applicationName: RELAY_APP,
      idleInTransactionTimeoutMs: LEASE_MS,
    });
    dataDir = await mkdtemp(join(tmpdir(), 'relay-stall-'));
    server = await startRedis({ dataDir, appendOnly: false });
    redis = new Redis(server.url, { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
    admin = new Redis(server.url);
    redis.on('error', () => {});
  });
  afterAll(async () => {
    await relay?.stop();
    redis.disconnect();
    admin.disconnect();
    await relayDb.destroy();
    await server.stop();
    await rm(dataDir, { recursive: true, force: true });
    await test.destroy();
  });

  /** Organizations of one tenant, inserted in one statement (one outbox batch for the relay). */
  const insertOrganizations = async (tenantId: string, label: string, count: number) => {
    const { rows } = await sql<{ id: string }>`
      INSERT INTO entities (tenant_id, entity_type, code, name)
      SELECT ${tenantId}, 'organization', ${label} || '-' || n, ${label} || ' ' || n
      FROM generate_series(1, ${count}) AS n
      RETURNING id
    `.execute(test.db);
    return rows.map((r) => r.id);
  };
  const stream = streamName('org.created', 'crm');
  const entityIdsOn = async (tenantId: string) =>
    (await readEvents(admin, stream))
      .filter((e) => e.tenantId === tenantId)
      .map((e) => (e as { entityId: string }).entityId);
  const unpublished = async (tenantId: string) => {
    const { rows } = await sql<{ n: number }>`
      SELECT count(*)::int AS n FROM outbox WHERE tenant_id = ${tenantId} AND published_at IS NULL
    `.execute(test.db);
    return rows[0]?.n;
  };

  it("publishes none of the tenant's stalled events after the disable answered, and goes on with the others", async () => {
    const stopped = await createTenant(test.db, 'disabled-during-stall');
    const other = await createTenant(test.db, 'goes-on');
    await setEnabled(test.db, stopped, 'crm', true);
    await setEnabled(test.db, other, 'crm', true);
    relay = new OutboxRelay({
      db: relayDb,
      databaseUrl: test.url,
      redis,
      streamPrefix: '',
      logger: pino({ level: 'silent' }),
      pollIntervalMs: 100,
      leaseMs: LEASE_MS,
    });
    relay.start();
    const [before] = await insertOrganizations(stopped, 'before', 1);
    await expect.poll(() => entityIdsOn(stopped), { timeout: 5_000 }).toEqual([before]);

    const pausedAt = Date.now();
    await admin.call('CLIENT', 'PAUSE', String(PAUSE_MS), 'WRITE');
    const stalled = await insertOrganizations(stopped, 'stalled', 20);
    const othersStalled = await insertOrganizations(other, 'others-stalled', 5);

    // The relay holds the tenant's rows and waits on Redis, inside its transaction.
    await expect
      .poll(
        async () => {
          const { rows } = await sql<{ waiting: number; free: number }>`
            SELECT
              (SELECT count(*)::int FROM pg_stat_activity
                WHERE application_name = ${RELAY_APP} AND state = 'idle in transaction'
                  AND now() - state_change > interval '200 milliseconds') AS waiting,
              (SELECT count(*)::int FROM (
                SELECT id FROM outbox WHERE tenant_id = ${stopped} AND published_at IS NULL
                FOR UPDATE SKIP LOCKED) free) AS free
          `.execute(test.db);
          return rows[0];
        },
        { timeout: 5_000, interval: 50 },
      )
      .toEqual({ waiting: 1, free: 0 });

    // The disable, as the toggle does it: it updates the enablement row, which waits for the
    // relay's share lock on it.
    await sql`
      UPDATE organization_applications SET is_enabled = false, disabled_at = now()
      WHERE tenant_id = ${stopped}
        AND application_id = (SELECT id FROM applications WHERE code = 'crm')
    `.execute(test.db);
    const answeredAt = Date.now();
    // It answered while Redis was still paused, with the relay's XADDs sent and not yet run.
    expect(answeredAt - pausedAt).toBeLessThan(PAUSE_MS - 1_000);
    expect(await entityIdsOn(stopped)).toEqual([before]);

    // Redis resumes and runs whatever was queued; the relay moves past the tenant's rows (marked
    // published, delivered to no one) and delivers the other tenant's events.
    await expect
      .poll(() => unpublished(stopped), { timeout: PAUSE_MS + 15_000, interval: 100 })
      .toBe(0);
    // At least once: a batch rolled back after its XADDs ran may add an entry twice.
    await expect
      .poll(async () => [...new Set(await entityIdsOn(other))].sort(), { timeout: 15_000 })
      .toEqual([...othersStalled].sort());
    const [after] = await insertOrganizations(other, 'after', 1);
    await expect
      .poll(async () => (await entityIdsOn(other)).includes(after as string), { timeout: 5_000 })
      .toBe(true);

    // Every command the relay sent during the stall ran before that last entry (one connection,
    // in order): the disabled tenant's stream holds what it held when the disable answered.
    expect(Date.now()).toBeGreaterThan(pausedAt + PAUSE_MS);
    expect(await entityIdsOn(stopped)).toEqual([before]);
    expect(stalled).toHaveLength(20);
  });
});
