/**
 * The CRM consumer as its own process, on a Postgres server of its own, while a real backfill
 * (BullMQ workers and the outbox relay, in this process) publishes a tenant's data and live
 * writes go on. An outage of the CRM's database longer than the whole retry budget dead-letters
 * nothing; an entry the CRM rejects on its own is dead-lettered, keeps the run from being
 * reported in sync, and the replay command completes it after the fix. The failures a database
 * meets without going down (read-only after a failover, statement timeouts behind a lock,
 * serialization failures) dead-letter nothing either and cost no delivery.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import {
  BackfillQueues,
  type BackfillSettings,
  type BackfillWorkers,
  startBackfillWorkers,
  toggleApplication,
} from '@historical-sync/backfill';
import { applicationDrained } from '@historical-sync/backfill/testing';
import { readDeadLetters } from '@historical-sync/consumer';
import { createDb, createPool, seedTenant } from '@historical-sync/db';
import { createTestDatabase, type TestDatabase } from '@historical-sync/db/testing';
import {
  addMembership,
  ConflictError,
  NotFoundError,
  removeMembership,
  updateAllocation,
  updateOrganization,
} from '@historical-sync/domain';
import { localStateDir, type RunningService, startPostgres } from '@historical-sync/local-stack';
import { OutboxRelay } from '@historical-sync/relay';
import { createLogger, createRedis } from '@historical-sync/runtime';
import type { Redis } from 'ioredis';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import {
  type Command,
  crmRun,
  logLines,
  projectionDifferences,
  runCrm,
  runNpm,
  waitFor,
} from './helpers';

const MEMBERSHIPS = 2_000;
const PAGE_SIZE = 50;
// The CRM's retry budget for an entry that fails: 2 deliveries, claimed again after 500 ms.
const MAX_DELIVERIES = 2;
const CLAIM_IDLE_MS = 500;
const CLAIM_INTERVAL_MS = 200;
const RETRY_BUDGET_MS = MAX_DELIVERIES * (CLAIM_IDLE_MS + CLAIM_INTERVAL_MS);
const OUTAGE_MS = 4_000;
const EVENTS_PER_SECOND = 300;
// The failures without a server going down: each lasts this long, over a smaller run.
const FAULT_MS = 3_000;
const FAULT_MEMBERSHIPS = 1_000;

describe('CRM consumer: outages and dead letters', () => {
  const unique = `t${randomBytes(4).toString('hex')}`;
  const streamPrefix = `${unique}:`;
  const deadLetters = `${streamPrefix}crm:dead-letter`;
  const crmDataDir = localStateDir(`crm-outage-${process.pid}-${Date.now()}`);
  const logger = createLogger('crm-outage-test', 'silent');
  let wrapper: TestDatabase;
  let crmServer: RunningService | undefined;
  let crmUrl: string;
  let redis: Redis;
  let relayRedis: Redis;
  let queues: BackfillQueues;
  let workers: BackfillWorkers;
  let relay: OutboxRelay;
  let crm: Command | undefined;
  let env: NodeJS.ProcessEnv;

  const startCrmServer = (preferredPort?: number) =>
    startPostgres({
      dataDir: crmDataDir,
      database: 'crm',
      ...(preferredPort ? { preferredPort } : {}),
    });

  beforeAll(async () => {
    wrapper = await createTestDatabase('crm_outage');
    crmServer = await startCrmServer();
    crmUrl = crmServer.url;
    redis = createRedis(process.env.REDIS_URL as string, 'crm-outage-test') as Redis;
    relayRedis = createRedis(process.env.REDIS_URL as string, 'crm-outage-relay', {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
    }) as Redis;
    const settings: BackfillSettings = {
      queuePrefix: unique,
      streamPrefix,
      pageSize: PAGE_SIZE,
      maxEventsPerSecond: EVENTS_PER_SECOND,
      partitions: 1,
      maxStreamBacklog: null,
      timeSliceMs: 0,
    };
    queues = new BackfillQueues(redis, unique);
    workers = startBackfillWorkers(
      { db: wrapper.db, redis, settings, logger },
      {
        queues: ['runs', 'credits', 'organizations', 'memberships'],
        concurrency: 2,
        lockDurationMs: 5_000,
        stalledIntervalMs: 2_000,
      },
    );
    relay = new OutboxRelay({
      db: wrapper.db,
      databaseUrl: wrapper.url,
      redis: relayRedis,
      streamPrefix,
      logger,
      pollIntervalMs: 100,
    });
    relay.start();
    env = {
      ...process.env,
      CRM_DATABASE_URL: crmUrl,
      STREAM_PREFIX: streamPrefix,
      CRM_CONSUMER_GROUP: 'crm',
      CRM_MAX_DELIVERIES: String(MAX_DELIVERIES),
      CRM_CLAIM_IDLE_MS: String(CLAIM_IDLE_MS),
      CRM_CLAIM_INTERVAL_MS: String(CLAIM_INTERVAL_MS),
      CRM_OUTAGE_MAX_BACKOFF_MS: '500',
      // Debug: the retries after a conflict are logged at that level.
      LOG_LEVEL: 'debug',
    };
    crm = runCrm('src/main.ts', env);
    await waitFor(
      () => /crm consumer started/.test(crm?.output() ?? ''),
      30_000,
      'the CRM consumer to start',
    );
  });

  afterAll(async () => {
    await crm?.stop();
    await relay?.stop();
    await workers?.close();
    await queues?.close();
    const keys = await redis.keys(`*${unique}*`);
    for (let i = 0; i < keys.length; i += 500) await redis.del(...keys.slice(i, i + 500));
    redis.disconnect();
    relayRedis.disconnect();
    await crmServer?.stop();
    await rm(crmServer?.dataDir ?? crmDataDir, { recursive: true, force: true });
    await wrapper?.destroy();
  });

  async function startRun(tenantName: string, seed: number, memberships = MEMBERSHIPS) {
    const { tenantId } = await seedTenant(wrapper.db, {
      tenantName,
      organizations: 40,
      memberships,
      creditAllocations: 80,
      app: 'crm',
      seed,
    });
    return enableCrm(tenantId);
  }

  /** Enables crm for the tenant and enqueues its backfill, as the toggle route does. */
  async function enableCrm(tenantId: string) {
    const { run } = await toggleApplication(
      wrapper.db,
      { redis, streamPrefix },
      {
        tenantId,
        application: 'crm',
        isEnabled: true,
        skipHistoricalSync: false,
        pageSize: PAGE_SIZE,
        // Paced, so the outage lands in the middle of the backfill.
        maxEventsPerSecond: EVENTS_PER_SECOND,
      },
    );
    if (!run) throw new Error('the enablement started no run');
    await queues.enqueueRun(run);
    return { tenantId, runId: run.id };
  }

  const published = async (runId: string) => {
    const rows = await wrapper.db
      .selectFrom('backfill_run_resources')
      .select('published')
      .where('run_id', '=', runId)
      .execute();
    return rows.reduce((sum, r) => sum + r.published, 0);
  };

  const drained = (tenantId: string, runId: string) =>
    applicationDrained(wrapper.db, redis, {
      tenantId,
      runId,
      appCode: 'crm',
      streamPrefix: streamPrefix,
    });

  /** Live writes through the services (each with its outbox row) until `stop` resolves. */
  async function liveWrites(tenantId: string, until: Promise<unknown>) {
    let done = false;
    void until.then(() => {
      done = true;
    });
    const ids = async (query: string) =>
      (await sql<{ id: string }>`${sql.raw(query)}`.execute(wrapper.db)).rows.map((r) => r.id);
    const orgs = await ids(
      `SELECT id FROM entities WHERE tenant_id = '${tenantId}' AND entity_type = 'organization' AND is_active`,
    );
    const memberships = await ids(
      `SELECT id FROM organization_memberships WHERE tenant_id = '${tenantId}' AND is_active`,
    );
    const credits = await ids(
      `SELECT id FROM credit_allocations WHERE tenant_id = '${tenantId}' AND target_application = 'crm' AND is_active`,
    );
    let writes = 0;
    for (let n = 0; !done; n++) {
      const pick = <T>(list: T[]) => list[n % list.length] as T;
      try {
        if (n % 4 === 0)
          await updateOrganization(wrapper.db, tenantId, pick(orgs), { name: `live ${n}` });
        else if (n % 4 === 1)
          await addMembership(wrapper.db, tenantId, {
            userId: randomUUID(),
            organizationId: pick(orgs),
            role: 'member',
          });
        else if (n % 4 === 2)
          await removeMembership(wrapper.db, tenantId, memberships[n] as string);
        else
          await updateAllocation(wrapper.db, tenantId, pick(credits), { availableCredits: n % 50 });
        writes += 1;
      } catch (error) {
        if (!(error instanceof ConflictError || error instanceof NotFoundError)) throw error;
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    return writes;
  }

  it('an outage of its database longer than the retry budget dead-letters nothing; the projection equals the source', {
    timeout: 180_000,
  }, async () => {
    expect(OUTAGE_MS).toBeGreaterThan(2 * RETRY_BUDGET_MS);
    const { tenantId, runId } = await startRun('outage', 1);
    let endWrites: () => void = () => {};
    const writing = liveWrites(tenantId, new Promise<void>((resolve) => (endWrites = resolve)));
    // A failed assertion ends the writer too (its error, if any, surfaces where it is awaited).
    onTestFinished(() => endWrites());
    writing.catch(() => {});

    // Mid-backfill: the CRM has applied some of the run and most of it is still to come.
    await expect
      .poll(() => published(runId), { timeout: 60_000, interval: 20 })
      .toBeGreaterThan(MEMBERSHIPS / 5);
    const port = Number(new URL(crmUrl).port);
    await crmServer?.stop(); // a fast shutdown: every session of the CRM is ended
    crmServer = undefined;
    const downAt = Date.now();
    expect(await published(runId)).toBeLessThan(MEMBERSHIPS);
    // The consumer notices (its handlers fail on the closed connections) and waits it out.
    await expect
      .poll(() => crm?.output() ?? '', { timeout: 10_000 })
      .toMatch(/a dependency is unreachable/);
    while (Date.now() - downAt < OUTAGE_MS) await new Promise((resolve) => setTimeout(resolve, 50));
    crmServer = await startCrmServer(port);
    expect(crmServer.url).toBe(crmUrl);
    endWrites();
    expect(await writing).toBeGreaterThan(50);

    await expect
      .poll(() => drained(tenantId, runId), { timeout: 120_000, interval: 250 })
      .toBe('drained');
    expect(await redis.xlen(deadLetters)).toBe(0);
    expect(await projectionDifferences(wrapper.db, crmUrl, tenantId)).toEqual([]);

    const output = crm?.output() ?? '';
    // One warning when the outage started and one line when it ended, not one per entry.
    expect(logLines(output, /a dependency is unreachable/)).toHaveLength(1);
    const [recovered] = logLines(output, /dependency back after/);
    expect(Number(recovered?.durationMs)).toBeGreaterThanOrEqual(OUTAGE_MS - 1_000);
    expect(logLines(output, /consumer error|dead-letter/)).toEqual([]);
    // The run is reported in sync, once, and recorded complete.
    await expect
      .poll(
        () =>
          logLines(crm?.output() ?? '', new RegExp(`CRM in sync for tenant ${tenantId}`)).length,
      )
      .toBe(1);
    expect(await crmRun(crmUrl, runId)).toMatchObject({
      completed_at: expect.any(Date),
      dead_lettered: 0,
    });
  });

  it('an entry the CRM rejects on its own is dead-lettered after its deliveries; the run is reported incomplete until the replay after the fix', {
    timeout: 180_000,
  }, async () => {
    const { tenantId } = await seedTenant(wrapper.db, {
      tenantName: 'poison',
      organizations: 10,
      memberships: 300,
      creditAllocations: 10,
      app: 'crm',
      seed: 2,
    });
    const { id: poisonId } = await wrapper.db
      .selectFrom('organization_memberships')
      .select('id')
      .where('tenant_id', '=', tenantId)
      .where('is_active', '=', true)
      .orderBy('id')
      .offset(100)
      .limit(1)
      .executeTakeFirstOrThrow();
    // A bug in the CRM's schema: a constraint that this one membership violates.
    const crmDb = createDb({ connectionString: crmUrl, maxConnections: 1 });
    const replayCommand = [
      'run',
      '--silent',
      'replay-dead-letters',
      '-w',
      '@historical-sync/crm-consumer',
    ];
    const summaryOf = (output: string) =>
      JSON.parse(output.split('\n').find((line) => line.startsWith('{"replayed"')) ?? '{}');
    try {
      await sql`ALTER TABLE crm_memberships ADD CONSTRAINT reject_one CHECK (id <> ${sql.lit(poisonId)}::uuid)`.execute(
        crmDb,
      );
      const { runId } = await enableCrm(tenantId);
      await expect
        .poll(() => drained(tenantId, runId), { timeout: 60_000, interval: 250 })
        .toBe('drained');

      // Dead-lettered after its deliveries, with the reason; only that entry.
      const dead = await redis.xrange(deadLetters, '-', '+');
      expect(dead).toHaveLength(1);
      const fields = dead[0]?.[1] ?? [];
      const value = (name: string) => fields[fields.indexOf(name) + 1];
      expect(value('runId')).toBe(runId);
      expect(value('reason')).toMatch(
        new RegExp(`gave up after ${MAX_DELIVERIES} deliveries: .*reject_one`),
      );
      // The run is reported incomplete with the count, and not in sync.
      await expect
        .poll(
          () =>
            logLines(crm?.output() ?? '', /incomplete: 1 entries dead-lettered/).filter(
              (l) => l.runId === runId,
            ).length,
        )
        .toBeGreaterThan(0);
      expect(
        logLines(crm?.output() ?? '', new RegExp(`CRM in sync for tenant ${tenantId}`)),
      ).toEqual([]);
      expect(await crmRun(crmUrl, runId)).toMatchObject({ completed_at: null, dead_lettered: 1 });
      expect(await projectionDifferences(wrapper.db, crmUrl, tenantId)).toEqual([
        expect.stringMatching(new RegExp(`^membership ${poisonId} missing in CRM`)),
      ]);

      // The fix, then the documented replay command.
      await sql`ALTER TABLE crm_memberships DROP CONSTRAINT reject_one`.execute(crmDb);
      const replay = runNpm(replayCommand, env);
      expect((await replay.exit()).code).toBe(0);
      expect(
        logLines(replay.output(), new RegExp(`CRM in sync for tenant ${tenantId}`)),
      ).toHaveLength(1);
      expect(summaryOf(replay.output())).toEqual({
        replayed: 1,
        stillFailing: 0,
        completedRuns: [runId],
      });
      expect(await redis.xlen(deadLetters)).toBe(0);
      expect(await projectionDifferences(wrapper.db, crmUrl, tenantId)).toEqual([]);
      expect(await crmRun(crmUrl, runId)).toMatchObject({
        completed_at: expect.any(Date),
        dead_lettered: 0,
      });

      // Running it again changes nothing.
      const again = runNpm(replayCommand, env);
      expect((await again.exit()).code).toBe(0);
      expect(summaryOf(again.output())).toEqual({
        replayed: 0,
        stillFailing: 0,
        completedRuns: [],
      });
    } finally {
      await crmDb.destroy();
    }
  });

  /** A session on the CRM's server that none of the faults below reaches. */
  const crmAdmin = () =>
    createDb({
      connectionString: `${crmUrl}?options=${encodeURIComponent('-c default_transaction_read_only=off -c statement_timeout=0')}`,
      maxConnections: 1,
    });

  /**
   * Changes a setting of the CRM's whole server as an operator (or a failover) would, and reloads
   * it: the CRM's open sessions take it at their next statement, without reconnecting.
   */
  async function setCrmServer(name: string, value: string | null) {
    const admin = crmAdmin();
    // A session as the CRM's are, to see the setting take effect.
    const plain = createDb({ connectionString: crmUrl, maxConnections: 1 });
    try {
      await (value === null
        ? sql`ALTER SYSTEM RESET ${sql.raw(name)}`
        : sql`ALTER SYSTEM SET ${sql.raw(name)} = ${sql.lit(value)}`
      ).execute(admin);
      await sql`SELECT pg_reload_conf()`.execute(admin);
      await expect
        .poll(async () => {
          const { rows } = await sql<{ source: string }>`
            SELECT source FROM pg_settings WHERE name = ${name}
          `.execute(plain);
          return rows[0]?.source === 'configuration file';
        })
        .toBe(value !== null);
    } finally {
      await plain.destroy();
      await admin.destroy();
    }
  }

  /**
   * Runs a backfill of FAULT_MEMBERSHIPS memberships; once the CRM is applying it, injects the
   * fault (with live writes to the tenant while it lasts, when `live`), waits for `met` (the
   * CRM's log shows it met the fault), keeps it FAULT_MS in all, undoes it, and waits for the
   * drain. Then: nothing of the tenant dead-lettered, no entry counted as failing on its own
   * (each `consumer error` line is a delivery used), the projection equal to the wrapper row by
   * row, and the run complete. Returns the CRM's log since the test began.
   */
  async function faultMidRun(
    name: string,
    seed: number,
    fault: {
      inject(tenantId: string): Promise<void>;
      undo(): Promise<void>;
      met(log: string): boolean;
      live?: boolean;
    },
  ): Promise<() => string> {
    const from = crm?.output().length ?? 0;
    const log = () => (crm?.output() ?? '').slice(from);
    const { tenantId, runId } = await startRun(name, seed, FAULT_MEMBERSHIPS);
    await expect
      .poll(() => published(runId), { timeout: 60_000, interval: 20 })
      .toBeGreaterThan(FAULT_MEMBERSHIPS / 5);
    const injectedAt = Date.now();
    let endWrites: () => void = () => {};
    const writing = fault.live
      ? liveWrites(tenantId, new Promise<void>((resolve) => (endWrites = resolve)))
      : Promise.resolve(0);
    writing.catch(() => {}); // awaited below
    try {
      await fault.inject(tenantId);
      await expect.poll(() => fault.met(log()), { timeout: 15_000 }).toBe(true);
      while (Date.now() - injectedAt < FAULT_MS) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    } finally {
      endWrites();
      await fault.undo();
    }
    await writing;
    await expect
      .poll(() => drained(tenantId, runId), { timeout: 120_000, interval: 250 })
      .toBe('drained');
    const dead = [];
    for await (const entry of readDeadLetters(redis, deadLetters)) {
      if (entry.tenantId === tenantId) dead.push(entry);
    }
    expect(dead).toEqual([]);
    expect(logLines(log(), /consumer error|dead-letter/)).toEqual([]);
    expect(await projectionDifferences(wrapper.db, crmUrl, tenantId)).toEqual([]);
    expect(await crmRun(crmUrl, runId)).toMatchObject({
      completed_at: expect.any(Date),
      dead_lettered: 0,
    });
    return log;
  }

  const codes = (log: string, pattern: RegExp) =>
    logLines(log, pattern).map((line) => (line.err as { code?: string } | undefined)?.code);

  it('a failover to a read-only server (25006) is waited out as an outage: nothing dead-lettered, no delivery used', {
    timeout: 120_000,
  }, async () => {
    const log = await faultMidRun('read-only', 3, {
      // The server takes no writes, as a standby does until its promotion.
      inject: () => setCrmServer('default_transaction_read_only', 'on'),
      undo: () => setCrmServer('default_transaction_read_only', null),
      met: (output) => codes(output, /a dependency is unreachable/).includes('25006'),
    });
    // One outage, reported once each way (its end once calls have gone through for a moment).
    expect(codes(log(), /a dependency is unreachable/)).toEqual(['25006']);
    await expect.poll(() => logLines(log(), /dependency back after/)).toHaveLength(1);
  });

  it('statement timeouts behind a lock held on the projection (57014) are tried again, then waited out: nothing dead-lettered, no delivery used', {
    timeout: 120_000,
  }, async () => {
    // Someone holds a lock on the memberships table (a migration, a manual fix) while the CRM
    // runs with a statement timeout: its writes to that table time out until the lock goes.
    const locker = createPool({ connectionString: crmUrl, maxConnections: 1 });
    const client = await locker.connect();
    try {
      const log = await faultMidRun('statement-timeout', 4, {
        inject: async () => {
          await setCrmServer('statement_timeout', '200ms');
          await client.query('SET statement_timeout = 0');
          await client.query('SET idle_in_transaction_session_timeout = 0');
          await client.query('BEGIN');
          await client.query('LOCK TABLE crm_memberships IN SHARE MODE');
        },
        undo: async () => {
          await client.query('COMMIT');
          await setCrmServer('statement_timeout', null);
        },
        // Tried again at once, then, the lock still held, waited out as an outage.
        met: (output) =>
          codes(output, /tried again after a conflict/).includes('57014') &&
          codes(output, /a dependency is unreachable/).includes('57014'),
      });
      await expect.poll(() => logLines(log(), /dependency back after/).length).toBeGreaterThan(0);
    } finally {
      client.release();
      await locker.end();
    }
  });

  it('serialization failures (40001) are tried again at once: nothing dead-lettered, no delivery used', {
    timeout: 120_000,
  }, async () => {
    // The CRM's transactions run SERIALIZABLE while another writer (the CRM's own users, say)
    // keeps updating the rows that live changes of the wrapper update too: an apply that finds
    // its row changed since its snapshot is rolled back with a serialization failure.
    let touching = true;
    let toucher: Promise<void> = Promise.resolve();
    const touch = async (tenantId: string) => {
      const db = crmAdmin();
      try {
        while (touching) {
          await db
            .transaction()
            .execute(async (trx) => {
              for (const table of [
                'crm_organizations',
                'crm_memberships',
                'crm_credit_allocations',
              ]) {
                await sql`UPDATE ${sql.table(table)} SET synced_at = now() WHERE tenant_id = ${tenantId}`.execute(
                  trx,
                );
              }
            })
            .catch((error: { code?: string }) => {
              // It loses some rounds to the CRM too.
              if (error.code !== '40001' && error.code !== '40P01') throw error;
            });
        }
      } finally {
        await db.destroy();
      }
    };
    try {
      const log = await faultMidRun('serializable', 5, {
        live: true,
        inject: async (tenantId) => {
          await setCrmServer('default_transaction_isolation', 'serializable');
          toucher = touch(tenantId);
        },
        undo: async () => {
          touching = false;
          await toucher;
          await setCrmServer('default_transaction_isolation', null);
        },
        met: (output) => codes(output, /tried again after a conflict/).includes('40001'),
      });
      expect(codes(log(), /tried again after a conflict/)).toContain('40001');
    } finally {
      touching = false;
      await toucher;
    }
  });
});
