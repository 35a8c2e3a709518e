/**
 * Test context for integration tests of the backfill: a fresh database, a Redis connection, and
 * queue and stream names unique to the test file, so files never see each other's jobs or events.
 */
import { randomBytes } from 'node:crypto';
import {
  applicationStreams,
  EVENT_FIELD,
  isSyncMarker,
  StreamEvent,
  type SyncEvent,
  type SyncMarker,
} from '@historical-sync/contracts';
import type { Db, RunStatus } from '@historical-sync/db';
import { createTestDatabase } from '@historical-sync/db/testing';
import { Redis } from 'ioredis';
import pino, { type Logger } from 'pino';
import type { BarrierDeps } from './publish/run-barrier';
import { streamGroups } from './redis/stream-groups';
import { toggleApplication } from './runs/enablement';
import { BackfillQueues } from './runs/queues';
import { FINAL_RUN_STATUSES } from './runs/run-state';
import { getRun, type RunWithResources } from './runs/runs';
import type { BackfillSettings } from './settings';

// What a test reads of a run's barrier, and how it offers a page of its own to it.
export { controlKey, pageCommands } from './publish/publisher';

import {
  type BackfillWorkers,
  startBackfillWorkers,
  type WorkerOptions,
} from './worker/start-workers';

export interface BackfillTestContext {
  db: Db;
  databaseUrl: string;
  redisUrl: string;
  redis: Redis;
  settings: BackfillSettings;
  queues: BackfillQueues;
  logger: Logger;
  /** Where run controls raise their barrier (this context's Redis and stream prefix). */
  barrier: BarrierDeps;
  /** Environment for a child process (worker, API) that must share this context's names. */
  env: Record<string, string>;
  startWorkers(options?: Partial<WorkerOptions>): BackfillWorkers;
  /** Every row event on `stream` (a name from `streamName`, prefix included), markers left out. */
  readEvents(stream: string): Promise<SyncEvent[]>;
  /** The run markers on `stream`. */
  readMarkers(stream: string): Promise<SyncMarker[]>;
  waitForRun(runId: string, statuses?: RunStatus[], timeoutMs?: number): Promise<RunWithResources>;
  /** Enables `application` (default crm) for the tenant and enqueues the run it starts. */
  enableAndEnqueue(
    tenantId: string,
    options?: { application?: string; pageSize?: number; partitions?: number },
  ): Promise<RunWithResources>;
  close(): Promise<void>;
}

export async function createBackfillTestContext(
  label: string,
  settings: Partial<BackfillSettings> = {},
): Promise<BackfillTestContext> {
  const redisUrl = process.env.REDIS_URL;
  if (!redisUrl) throw new Error('REDIS_URL is not set: run tests with `npm test` from the root.');
  const database = await createTestDatabase(label);
  const unique = `t${randomBytes(4).toString('hex')}`;
  const fullSettings: BackfillSettings = {
    queuePrefix: unique,
    streamPrefix: `${unique}:`,
    pageSize: 100,
    maxEventsPerSecond: null,
    partitions: 1,
    maxStreamBacklog: null,
    timeSliceMs: 2_000,
    ...settings,
  };
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: null });
  const queues = new BackfillQueues(redis, fullSettings.queuePrefix);
  const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
  const workers: BackfillWorkers[] = [];

  const context: BackfillTestContext = {
    db: database.db,
    databaseUrl: database.url,
    redisUrl,
    redis,
    settings: fullSettings,
    queues,
    logger,
    barrier: { redis, streamPrefix: fullSettings.streamPrefix },
    env: {
      DATABASE_URL: database.url,
      REDIS_URL: redisUrl,
      QUEUE_PREFIX: fullSettings.queuePrefix,
      STREAM_PREFIX: fullSettings.streamPrefix,
      BACKFILL_PAGE_SIZE: String(fullSettings.pageSize),
      // Test machines run many suites at once: the guard would slow a test for another suite's
      // load. Source protection has its own tests (source-protection.test.ts).
      BACKFILL_SOURCE_PROTECTION: fullSettings.sourceProtection ? 'on' : 'off',
    },
    startWorkers: (options = {}) => {
      const started = startBackfillWorkers(
        { db: database.db, redis, settings: fullSettings, logger },
        {
          queues: ['runs', 'credits', 'organizations', 'memberships'],
          concurrency: 2,
          lockDurationMs: 5_000,
          stalledIntervalMs: 1_000,
          ...options,
        },
      );
      workers.push(started);
      return started;
    },
    readEvents: async (stream) =>
      (await readStream(redis, stream)).filter((e): e is SyncEvent => !isSyncMarker(e)),
    readMarkers: async (stream) => (await readStream(redis, stream)).filter(isSyncMarker),
    waitForRun: async (runId, statuses = [...FINAL_RUN_STATUSES, 'failed'], timeoutMs = 30_000) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const run = await getRun(database.db, runId);
        if (run && statuses.includes(run.status)) return run;
        if (Date.now() > deadline) {
          throw new Error(`run ${runId} is ${run?.status ?? 'missing'}, not ${statuses.join('/')}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
    enableAndEnqueue: async (tenantId, options = {}) => {
      const { run } = await toggleApplication(
        database.db,
        { redis, streamPrefix: fullSettings.streamPrefix },
        {
          tenantId,
          application: options.application ?? 'crm',
          isEnabled: true,
          skipHistoricalSync: false,
          pageSize: options.pageSize ?? fullSettings.pageSize,
          ...(options.partitions ? { partitions: options.partitions } : {}),
        },
      );
      if (!run) throw new Error(`enabling ${options.application ?? 'crm'} started no run`);
      await queues.enqueueRun(run);
      return run;
    },
    close: async () => {
      await Promise.all(workers.map((w) => w.close()));
      await queues.close();
      // Remove this file's keys so the shared Redis stays small across the suite.
      const keys = await redis.keys(`*${unique}*`);
      for (let i = 0; i < keys.length; i += 500) await redis.del(...keys.slice(i, i + 500));
      redis.disconnect();
      await database.destroy();
    },
  };
  return context;
}

async function readStream(redis: Redis, stream: string): Promise<StreamEvent[]> {
  const entries = await redis.xrange(stream, '-', '+');
  return entries.map(([, fields]) =>
    StreamEvent.parse(JSON.parse(fields[fields.indexOf(EVENT_FIELD) + 1] as string)),
  );
}

/**
 * 'drained' once the run is complete, the tenant's outbox is published and every entry on the
 * application's streams is acknowledged by every group; otherwise what is still outstanding, so a
 * test that polls for it reports where it stalled.
 */
export async function applicationDrained(
  db: Db,
  redis: Redis,
  target: { tenantId: string; runId: string; appCode: string; streamPrefix: string },
): Promise<string> {
  const run = await db
    .selectFrom('backfill_runs')
    .select('status')
    .where('id', '=', target.runId)
    .executeTakeFirstOrThrow();
  if (run.status !== 'completed') return `run ${run.status}`;
  const outbox = await db
    .selectFrom('outbox')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('tenant_id', '=', target.tenantId)
    .where('published_at', 'is', null)
    .executeTakeFirstOrThrow();
  if (Number(outbox.n) > 0) return `outbox ${outbox.n}`;
  for (const stream of applicationStreams(target.appCode, target.streamPrefix)) {
    for (const group of await streamGroups(redis, stream)) {
      if ((group.lag ?? 0) > 0 || group.pending > 0)
        return `${stream} lag ${group.lag} pending ${group.pending}`;
    }
  }
  return 'drained';
}
