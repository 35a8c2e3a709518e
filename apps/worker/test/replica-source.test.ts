/**
 * BACKFILL_DATABASE_URL through the worker's real entry point: a server that is not a replica of
 * DATABASE_URL is refused at start; a real streaming replica is where the pages are read (its
 * replay paused, the run waits for it; resumed, the run completes with every row once).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type BackfillTestContext,
  createBackfillTestContext,
} from '@historical-sync/backfill/testing';
import { HISTORICAL_EVENT_TYPE, streamName } from '@historical-sync/contracts';
import { createDb, type Db, seedTenant } from '@historical-sync/db';
import {
  findFreePort,
  type RunningService,
  startPostgres,
  startReplica,
} from '@historical-sync/local-stack';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killWorker, spawnWorker, type WorkerProcess } from './worker-process';

const sharedDatabaseUrl = process.env.DATABASE_URL;
let primaryDir: string | undefined;
let primary: RunningService;
let replica: RunningService;
let t: BackfillTestContext;
let replicaDb: Db;
let replicaUrl: string;
const workers: WorkerProcess[] = [];

beforeAll(async () => {
  // A primary of this file's own, so its replica copies only this file's database.
  primaryDir = await mkdtemp(join(tmpdir(), 'worker-replica-primary-'));
  primary = await startPostgres({
    dataDir: primaryDir,
    database: 'postgres',
    ephemeral: true,
  });
  process.env.DATABASE_URL = primary.url;
  t = await createBackfillTestContext('worker_replica', { pageSize: 50 });
  replica = await startReplica(primary);
  const url = new URL(replica.url);
  url.pathname = new URL(t.databaseUrl).pathname;
  replicaUrl = url.toString();
  replicaDb = createDb({ connectionString: replicaUrl, maxConnections: 2 });
}, 120_000);

afterAll(async () => {
  await Promise.all(workers.map(killWorker));
  await sql`SELECT pg_wal_replay_resume()`.execute(replicaDb).catch(() => {});
  await replicaDb?.destroy();
  await t?.close();
  process.env.DATABASE_URL = sharedDatabaseUrl;
  await replica?.stop();
  await primary?.stop();
  // The server's data went with it; this is the folder it was asked to use (postgres.ts may have
  // used another, one the postgres user can enter).
  if (primaryDir) await rm(primaryDir, { recursive: true, force: true });
});

const BACKFILL_ROLES = { WORKER_ROLES: 'runs,credits,organizations,memberships' };

describe('BACKFILL_DATABASE_URL', () => {
  it('refuses a server that is not a replica of DATABASE_URL', async () => {
    if (!sharedDatabaseUrl) throw new Error('DATABASE_URL is not set');
    // The suite's own server: reachable, but another cluster.
    const worker = spawnWorker({
      ...t.env,
      ...BACKFILL_ROLES,
      BACKFILL_DATABASE_URL: sharedDatabaseUrl,
    });
    workers.push(worker);
    const { code } = await worker.exited;
    expect(code).toBe(1);
    expect(worker.output()).toMatch(
      /BACKFILL_DATABASE_URL \(127\.0\.0\.1:\d+\) is not a streaming replica of DATABASE_URL \(127\.0\.0\.1:\d+\): their system identifiers differ/,
    );
  });

  it('reads the pages from the replica: the run waits while its replay is paused', {
    timeout: 120_000,
  }, async () => {
    const rows = 600;
    const { tenantId } = await seedTenant(t.db, {
      tenantName: 'worker-replica',
      organizations: 3,
      memberships: rows,
      creditAllocations: 0,
      app: 'crm',
      seed: 21,
    });
    await sql`SELECT pg_wal_replay_pause()`.execute(replicaDb);
    const metricsPort = await findFreePort(0);
    const worker = spawnWorker({
      ...t.env,
      ...BACKFILL_ROLES,
      BACKFILL_DATABASE_URL: replicaUrl,
      WORKER_METRICS_PORT: String(metricsPort),
    });
    workers.push(worker);
    await worker.ready();
    const run = await t.enableAndEnqueue(tenantId);

    await worker.waitForOutput(/waiting for the replica to replay the run's start/, 30_000);
    const stream = streamName(HISTORICAL_EVENT_TYPE.memberships, 'crm', t.settings.streamPrefix);
    expect((await t.readEvents(stream)).filter((e) => e.runId === run.id)).toEqual([]);
    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    expect(metrics).toMatch(/^hs_backfill_replica_lag_seconds -?\d/m);

    await sql`SELECT pg_wal_replay_resume()`.execute(replicaDb);
    const finished = await t.waitForRun(run.id, ['completed', 'failed'], 60_000);
    expect(finished.status, worker.output()).toBe('completed');
    const events = (await t.readEvents(stream)).filter((e) => e.runId === run.id);
    expect(events).toHaveLength(rows);
    expect(new Set(events.map((e) => e.eventId)).size).toBe(rows);
  });
});
