/**
 * Backfill from a real streaming replica (pg_basebackup -R of a Postgres started for this file):
 * pages wait until the replica has replayed the run's enablement, so rows committed just before
 * it are published although the replica was behind; and a replica whose lag is over the limit
 * slows the pages, then parks them, until it has caught up. The oracle is the primary.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  HISTORICAL_EVENT_TYPE,
  type OrgAssignmentCreatedEvent,
  streamName,
} from '@historical-sync/contracts';
import { createDb, type Db, seedTenant } from '@historical-sync/db';
import { type RunningService, startPostgres, startReplica } from '@historical-sync/local-stack';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bytesToReplay, primaryWalPosition } from '../src/pacing/replica-lsn';
import { viewRun } from '../src/read-models/status';
import { toggleApplication } from '../src/runs/enablement';
import { getRun } from '../src/runs/runs';
import { type BackfillTestContext, createBackfillTestContext } from '../src/testing';
import { type BackfillWorkers, startBackfillWorkers } from '../src/worker/start-workers';

let primaryDir: string | undefined;
let primary: RunningService;
let replica: RunningService;
const sharedDatabaseUrl = process.env.DATABASE_URL;

beforeAll(async () => {
  // A primary of this file's own: a replica copies a whole server, and the lag measured here must
  // be this file's writes only, not those of every test file sharing the suite's server.
  primaryDir = await mkdtemp(join(tmpdir(), 'replica-test-primary-'));
  primary = await startPostgres({
    dataDir: primaryDir,
    database: 'postgres',
    ephemeral: true,
  });
  // The test helpers create their database on DATABASE_URL's server: this file's primary.
  process.env.DATABASE_URL = primary.url;
}, 120_000);

afterAll(async () => {
  process.env.DATABASE_URL = sharedDatabaseUrl;
  await replica?.stop();
  await primary?.stop();
  // The server's data went with it; this is the folder it was asked to use (postgres.ts may have
  // used another, one the postgres user can enter).
  if (primaryDir) await rm(primaryDir, { recursive: true, force: true });
});

/** The replica, taken once the first context's database exists (so its backup holds it). */
async function replicaOf(t: BackfillTestContext): Promise<Db> {
  replica ??= await startReplica(primary);
  const url = new URL(replica.url);
  url.pathname = new URL(t.databaseUrl).pathname;
  const db = createDb({ connectionString: url.toString(), maxConnections: 5 });
  // Created after the backup (the second context's): there once the replica has replayed it.
  await caughtUp(t.db, db);
  return db;
}

/** Polls (hooks cannot use expect.poll) until the replica has replayed the primary's WAL so far. */
async function caughtUp(primaryDb: Db, replicaDb: Db): Promise<void> {
  const target = await primaryWalPosition(primaryDb);
  const deadline = Date.now() + 30_000;
  let behind = await bytesToReplay(replicaDb, target).catch(() => -1);
  while (behind !== 0) {
    if (Date.now() > deadline) throw new Error(`replica still ${behind} bytes behind`);
    await new Promise((resolve) => setTimeout(resolve, 50));
    behind = await bytesToReplay(replicaDb, target).catch(() => -1);
  }
}

function startWorkers(t: BackfillTestContext, sourceDb: Db): BackfillWorkers {
  return startBackfillWorkers(
    { db: t.db, sourceDb, redis: t.redis, settings: t.settings, logger: t.logger },
    {
      queues: ['runs', 'credits', 'organizations', 'memberships'],
      concurrency: 2,
      lockDurationMs: 5_000,
      stalledIntervalMs: 1_000,
    },
  );
}

async function setReplay(replicaDb: Db, state: 'paused' | 'not paused') {
  if (state === 'paused') await sql`SELECT pg_wal_replay_pause()`.execute(replicaDb);
  else await sql`SELECT pg_wal_replay_resume()`.execute(replicaDb);
  await expect
    .poll(
      async () =>
        (await sql<{ s: string }>`SELECT pg_get_wal_replay_pause_state() AS s`.execute(replicaDb))
          .rows[0]?.s,
      { interval: 20, timeout: 10_000 },
    )
    .toBe(state);
}

/** `count` new memberships of the tenant, written on the primary; their ids. */
async function addMemberships(db: Db, tenantId: string, count: number): Promise<string[]> {
  const { rows } = await sql<{ id: string }>`
    INSERT INTO organization_memberships (tenant_id, user_id, organization_id, role)
    SELECT ${tenantId}, gen_random_uuid(),
      (SELECT id FROM entities WHERE tenant_id = ${tenantId} AND entity_type = 'organization' LIMIT 1),
      'member'
    FROM generate_series(1, ${count})
    RETURNING id`.execute(db);
  return rows.map((r) => r.id);
}

async function membershipEvents(t: BackfillTestContext, runId: string) {
  const stream = streamName(HISTORICAL_EVENT_TYPE.memberships, 'crm', t.settings.streamPrefix);
  return (await t.readEvents(stream))
    .filter((e) => e.runId === runId)
    .map((e) => (e as OrgAssignmentCreatedEvent).membershipId);
}

async function membershipsThrottle(t: BackfillTestContext, runId: string) {
  const run = await getRun(t.db, runId);
  return run ? viewRun(run).resources.memberships?.throttled : undefined;
}

/** The reason as the job last wrote it (the view shows it only while the resource runs). */
async function throttleColumn(t: BackfillTestContext, runId: string) {
  const row = await t.db
    .selectFrom('backfill_run_resources')
    .select('source_throttle')
    .where('run_id', '=', runId)
    .where('resource', '=', 'memberships')
    .executeTakeFirst();
  return row?.source_throttle;
}

async function membershipsJob(t: BackfillTestContext, runId: string) {
  const queue = t.queues.resources.memberships;
  for (const job of await queue.getJobs(['active', 'waiting', 'prioritized', 'delayed'])) {
    if (job?.data.runId === runId)
      return { state: await job.getState(), processedOn: job.processedOn };
  }
  return undefined;
}

describe('backfill from a replica behind the enablement', () => {
  let t: BackfillTestContext;
  let replicaDb: Db;
  let workers: BackfillWorkers | undefined;
  beforeAll(async () => {
    t = await createBackfillTestContext('replica_wait', { pageSize: 50 });
    replicaDb = await replicaOf(t);
  }, 120_000);
  afterAll(async () => {
    await workers?.close();
    await setReplay(replicaDb, 'not paused').catch(() => {});
    await replicaDb?.destroy();
    await t?.close();
  });

  it('waits for the replica to replay the enablement, then publishes every row once', async () => {
    const { tenantId } = await seedTenant(t.db, {
      tenantName: 'replica-behind',
      organizations: 3,
      memberships: 400,
      creditAllocations: 0,
      app: 'crm',
      seed: 15,
    });
    // The replica has the seed, then stops replaying: what follows exists on the primary only.
    await caughtUp(t.db, replicaDb);
    await setReplay(replicaDb, 'paused');
    const justBefore = await addMemberships(t.db, tenantId, 120);

    workers = startWorkers(t, replicaDb);
    const run = await t.enableAndEnqueue(tenantId);
    const justAfter = await addMemberships(t.db, tenantId, 80);

    // The partition waits for the replica, says so, and parks: its job comes back, finds the
    // replica still behind, and parks again; no page of the run is published meanwhile.
    await expect
      .poll(() => membershipsThrottle(t, run.id), { interval: 20, timeout: 20_000 })
      .toMatch(/^throttled by replica lag: waiting for the replica to replay the run's start/);
    await expect
      .poll(async () => (await membershipsJob(t, run.id))?.state, { interval: 20, timeout: 10_000 })
      .toBe('delayed');
    const firstParked = (await membershipsJob(t, run.id))?.processedOn;
    await expect
      .poll(
        async () => {
          const job = await membershipsJob(t, run.id);
          return job?.state === 'delayed' && job.processedOn !== firstParked;
        },
        { interval: 20, timeout: 10_000 },
      )
      .toBe(true);
    expect(await membershipEvents(t, run.id)).toEqual([]);
    expect((await getRun(t.db, run.id))?.status).toBe('running');

    await setReplay(replicaDb, 'not paused');
    expect((await t.waitForRun(run.id, ['completed', 'failed'], 60_000)).status).toBe('completed');
    expect(await throttleColumn(t, run.id), 'the wait is no longer reported').toBeNull();

    // The oracle, on the primary: every active membership, and the live events of those written
    // after the enablement.
    const published = await membershipEvents(t, run.id);
    expect(new Set(published).size, 'no row twice').toBe(published.length);
    const { rows: onPrimary } = await sql<{ id: string }>`
      SELECT id FROM organization_memberships WHERE tenant_id = ${tenantId} AND is_active
    `.execute(t.db);
    const { rows: live } = await sql<{ id: string }>`
      SELECT aggregate_id AS id FROM outbox
      WHERE tenant_id = ${tenantId} AND aggregate = 'membership'
    `.execute(t.db);
    const backfilled = new Set(published);
    const liveIds = new Set(live.map((r) => r.id));
    const beforeEnable = onPrimary.map((r) => r.id).filter((id) => !justAfter.includes(id));
    expect(beforeEnable).toHaveLength(520);
    // Committed before the enablement: no live event brings them, the backfill must.
    expect(beforeEnable.filter((id) => !backfilled.has(id))).toEqual([]);
    expect(justBefore.every((id) => backfilled.has(id))).toBe(true);
    // Written after it: live events carry them (the backfill may have read them too).
    expect(justAfter.filter((id) => !liveIds.has(id))).toEqual([]);
    // Nothing published that the primary does not hold.
    const primaryIds = new Set(onPrimary.map((r) => r.id));
    expect(published.filter((id) => !primaryIds.has(id))).toEqual([]);
  });
});

describe('the governor on replica lag', () => {
  const maxLagMs = 1_000;
  let t: BackfillTestContext;
  let replicaDb: Db;
  let workers: BackfillWorkers | undefined;
  beforeAll(async () => {
    t = await createBackfillTestContext('replica_lag', {
      pageSize: 50,
      replicaLag: { maxLagMs, probeIntervalMs: 50 },
    });
    replicaDb = await replicaOf(t);
  }, 120_000);
  afterAll(async () => {
    await workers?.close();
    await setReplay(replicaDb, 'not paused').catch(() => {});
    await replicaDb?.destroy();
    await t?.close();
  });

  it('slows the pages over the limit, parks them over twice it, and completes once caught up', async () => {
    const rows = 4_000;
    const { tenantId } = await seedTenant(t.db, {
      tenantName: 'replica-lagging',
      organizations: 3,
      memberships: rows,
      creditAllocations: 0,
      app: 'crm',
      seed: 16,
    });
    await sql`CREATE TABLE lag_writes (n int)`.execute(t.db);
    workers = startWorkers(t, replicaDb);
    const guard = workers.replicaGuard;
    if (!guard) throw new Error('expected a replica guard');
    // 10 pages a second: the run outlasts the lag building up past twice the limit.
    const { run } = await toggleApplication(t.db, t.barrier, {
      tenantId,
      application: 'crm',
      isEnabled: true,
      skipHistoricalSync: false,
      pageSize: 50,
      maxEventsPerSecond: 500,
    });
    if (!run) throw new Error('no run started');
    await t.queues.enqueueRun(run);
    await expect
      .poll(async () => (await membershipEvents(t, run.id)).length, {
        interval: 20,
        timeout: 20_000,
      })
      .toBeGreaterThan(0);
    expect(guard.state).toBe('go');

    // The replica stops replaying while the primary goes on writing: its data ages.
    await setReplay(replicaDb, 'paused');
    let writing = true;
    const writer = (async () => {
      for (let n = 0; writing; n++) {
        await sql`INSERT INTO lag_writes VALUES (${n})`.execute(t.db);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    try {
      // Over the limit: the pages slow but go on.
      await expect.poll(() => guard.state, { interval: 5, timeout: 20_000 }).toBe('slow');
      const atSlow = (await membershipEvents(t, run.id)).length;
      await expect
        .poll(async () => (await membershipsThrottle(t, run.id)) ?? '', {
          interval: 20,
          timeout: 10_000,
        })
        .toMatch(
          /^throttled by replica lag: \d+\.\d s > 1\.0 s \([\d.]+ (B|kB|MB) of WAL to replay\) \(for (under a second|\d+ s)\)$/,
        );
      // Over twice the limit: parked, and nothing more goes out while the lag lasts.
      await expect.poll(() => guard.state, { interval: 5, timeout: 20_000 }).toBe('pause');
      const atPause = (await membershipEvents(t, run.id)).length;
      expect(atPause, 'pages went on while slowed').toBeGreaterThan(atSlow);
      await expect
        .poll(async () => (await membershipsJob(t, run.id))?.state, {
          interval: 20,
          timeout: 10_000,
        })
        .toBe('delayed');
      expect(await membershipsThrottle(t, run.id)).toMatch(/> 2\.0 s, twice the limit/);
      const parked = (await membershipEvents(t, run.id)).length;
      const probes = guard.probes;
      await expect
        .poll(() => guard.probes, { interval: 20, timeout: 20_000 })
        .toBeGreaterThan(probes + 20);
      expect(guard.state).toBe('pause');
      const later = (await membershipEvents(t, run.id)).length;
      expect(later - parked).toBeLessThanOrEqual(50);
      expect(later).toBeLessThan(rows);
      expect(guard.throttledSeconds).toBeGreaterThan(0);
    } finally {
      writing = false;
      await writer;
      await setReplay(replicaDb, 'not paused');
    }

    // Caught up: full speed again, every row once.
    expect((await t.waitForRun(run.id, ['completed', 'failed'], 60_000)).status).toBe('completed');
    expect(await throttleColumn(t, run.id), 'the lag is no longer reported').toBeNull();
    const published = await membershipEvents(t, run.id);
    const { rows: onPrimary } = await sql<{ id: string }>`
      SELECT id FROM organization_memberships WHERE tenant_id = ${tenantId} AND is_active
    `.execute(t.db);
    expect(published).toHaveLength(rows);
    expect(new Set(published)).toEqual(new Set(onPrimary.map((r) => r.id)));
  });
});
