/**
 * The API's health signal for source protection: what a publisher writes (one key per process,
 * expiring on its own, its id in a bounded set), and an API process whose event loop runs late
 * slowing a real backfill, which completes exactly once at full speed when the API recovers.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { HISTORICAL_EVENT_TYPE, streamName } from '@historical-sync/contracts';
import { seedTenant } from '@historical-sync/db';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { viewRun } from '../src/index';
import {
  API_SEEN_WITHIN_MS,
  ApiHealthReader,
  apiHealthKeys,
  HEALTH_TTL_MS,
  startApiHealthPublisher,
} from '../src/pacing/api-health';
import { type SourceAdvice, SourceGuard } from '../src/pacing/source-guard';
import { getRun } from '../src/runs/runs';
import { type BackfillTestContext, createBackfillTestContext } from '../src/testing';

const redisUrl = () => {
  const url = process.env.REDIS_URL;
  if (!url) throw new Error('REDIS_URL is not set: run tests with `npm test` from the root.');
  return url;
};

describe('API health publisher', () => {
  let redis: Redis;
  const prefix = `apihealth${process.pid}`;
  beforeAll(() => {
    redis = new Redis(redisUrl(), { maxRetriesPerRequest: null });
  });
  afterAll(async () => {
    await redis.del(apiHealthKeys(prefix).apis);
    redis.disconnect();
  });

  it('writes one key per process that expires on its own, and lists the process in a bounded set', async () => {
    const keys = apiHealthKeys(prefix);
    const publisher = startApiHealthPublisher({ redis, prefix, id: 'api-1', intervalMs: 50 });
    await expect.poll(() => redis.exists(keys.api('api-1')), { interval: 20 }).toBe(1);
    const ttl = await redis.pttl(keys.api('api-1'));
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(HEALTH_TTL_MS);
    const value = JSON.parse((await redis.get(keys.api('api-1'))) ?? 'null');
    expect(Object.keys(value)).toEqual(['delayP99Ms', 'dbWaitingMean']);
    expect(value.delayP99Ms).toBeGreaterThanOrEqual(0);
    expect(await redis.zrange(keys.apis, '0', '-1')).toEqual(['api-1']);
    const setTtl = await redis.pttl(keys.apis);
    expect(setTtl).toBeGreaterThan(0);
    expect(setTtl).toBeLessThanOrEqual(API_SEEN_WITHIN_MS);

    // This very loop held for 300 ms: the next write says so.
    const until = performance.now() + 300;
    while (performance.now() < until) {
      // blocking the event loop on purpose
    }
    await expect
      .poll(async () => JSON.parse((await redis.get(keys.api('api-1'))) ?? 'null')?.delayP99Ms, {
        interval: 10,
      })
      .toBeGreaterThanOrEqual(200);
    const reader = new ApiHealthReader(redis, prefix);
    expect((await reader.worst())?.id).toBe('api-1');

    // Stopped: its key and its entry go at once, and the reader finds no API (healthy).
    await publisher.stop();
    expect(await redis.exists(keys.api('api-1'))).toBe(0);
    expect(await redis.zrange(keys.apis, '0', '-1')).toEqual([]);
    expect(await reader.worst()).toBeNull();
  });

  it("publishes how many of the process's requests wait for a Postgres connection", async () => {
    const keys = apiHealthKeys(prefix);
    // A pool of one connection, held, with three queries queued for it: as an API's requests
    // queue when Postgres slows down and each holds its connection longer.
    const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 1 });
    const held = await pool.connect();
    const queued = [1, 2, 3].map(() => pool.query('SELECT 1'));
    const publisher = startApiHealthPublisher({ redis, prefix, id: 'api-2', pool, intervalMs: 50 });
    const reader = new ApiHealthReader(redis, prefix);
    try {
      await expect
        .poll(async () => (await reader.worst())?.dbWaitingMean, { interval: 20 })
        .toBeGreaterThanOrEqual(2.5);
      held.release();
      await Promise.all(queued);
      await expect
        .poll(
          async () => JSON.parse((await redis.get(keys.api('api-2'))) ?? 'null')?.dbWaitingMean,
          {
            interval: 20,
          },
        )
        .toBe(0);
    } finally {
      await publisher.stop();
      await pool.end();
    }
  });

  it('reads a process that stopped writing as healthy once its key expired', async () => {
    const keys = apiHealthKeys(prefix);
    // A process that died after a bad window: its id is still listed, its key about to expire.
    await redis.zadd(keys.apis, String(Date.now()), 'api-dead');
    await redis.set(keys.api('api-dead'), JSON.stringify({ delayP99Ms: 500 }), 'PX', 200);
    const reader = new ApiHealthReader(redis, prefix);
    expect(await reader.worst()).toEqual({ id: 'api-dead', delayP99Ms: 500, dbWaitingMean: 0 });
    await expect.poll(() => reader.worst(), { interval: 50 }).toBeNull();
    await redis.zrem(keys.apis, 'api-dead');
  });
});

describe('source protection: an API running late slows the pages', () => {
  const pageSize = 100;
  const rows = 5_000;
  /** Far above what a busy test machine's idle process shows; the blocked one is ~400 ms late. */
  const apiLagMs = 150;
  let t: BackfillTestContext;
  let api: ChildProcess | undefined;
  beforeAll(async () => {
    t = await createBackfillTestContext('source_api', {
      pageSize,
      sourceProtection: {
        latencyMs: null,
        maxActiveBackends: null,
        maxLockWaits: null,
        probeIntervalMs: 50,
        apiLagMs,
      },
    });
  });
  afterAll(async () => {
    if (api?.connected) {
      const exited = once(api, 'exit');
      api.send('stop');
      await exited;
    }
    await t.close();
  });

  it("slows the pages while an API's requests queue for a database connection, and says so", async () => {
    const prefix = `${t.settings.queuePrefix}:db-queue`;
    const keys = apiHealthKeys(prefix);
    const guard = new SourceGuard(
      t.db,
      {
        latencyMs: null,
        maxActiveBackends: null,
        maxLockWaits: null,
        probeIntervalMs: 50,
        apiLagMs: null,
        apiDbQueue: 1,
      },
      new ApiHealthReader(t.redis, prefix),
    );
    const report = (dbWaitingMean: number) =>
      t.redis
        .multi()
        .set(keys.api('api-q'), JSON.stringify({ delayP99Ms: 0, dbWaitingMean }), 'PX', 60_000)
        .zadd(keys.apis, String(Date.now()), 'api-q')
        .exec();
    try {
      await report(3.5);
      await expect
        .poll(() => guard.advise(), { interval: 20 })
        .toEqual({
          kind: 'slow',
          share: expect.any(Number),
          reason: 'API requests waiting for a database connection: 3.5 > 1',
        });
      // Within the threshold (one request waiting on average is what a busy API does): the
      // delay halves at each probe until the pages go at full speed again.
      await report(0.8);
      await expect.poll(() => guard.advise(), { interval: 20 }).toEqual({ kind: 'go' });
    } finally {
      guard.stop();
      await t.redis.del(keys.api('api-q'), keys.apis);
    }
  });

  it('never slows for a healthy API, cuts the pace by how far it is over, gives it back slowly', async () => {
    const prefix = `${t.settings.queuePrefix}:share`;
    const keys = apiHealthKeys(prefix);
    const guard = new SourceGuard(
      t.db,
      {
        latencyMs: null,
        maxActiveBackends: null,
        maxLockWaits: null,
        probeIntervalMs: 200,
        apiLagMs: 30,
        apiDbQueue: null,
      },
      new ApiHealthReader(t.redis, prefix),
    );
    const report = (delayP99Ms: number) =>
      t.redis
        .multi()
        .set(keys.api('api-s'), JSON.stringify({ delayP99Ms, dbWaitingMean: 0 }), 'PX', 60_000)
        .zadd(keys.apis, String(Date.now()), 'api-s')
        .exec();
    /** The advice once the guard has judged a probe started after this call. */
    const nextProbe = async () => {
      const seen = guard.probes;
      await expect.poll(() => guard.probes, { interval: 5 }).toBeGreaterThan(seen + 1);
      return guard.advise();
    };
    const shareOf = (advice: SourceAdvice) => (advice.kind === 'slow' ? advice.share : advice.kind);
    try {
      // Under its threshold: full speed, probe after probe.
      await report(25);
      guard.advise();
      for (let i = 0; i < 3; i += 1) expect(await nextProbe()).toEqual({ kind: 'go' });
      // Just over (33 ms > 30 ms): a fifth off, not half (read before the next probe, 200 ms on).
      await report(33);
      await expect.poll(() => guard.advise().kind, { interval: 5 }).toBe('slow');
      expect(shareOf(guard.advise())).toBeCloseTo(0.8, 5);
      await report(25);
      // Healthy again: a tenth back per probe, slowed (and saying why) until full speed.
      const seen = guard.probes;
      await expect.poll(() => guard.probes, { interval: 5 }).toBeGreaterThan(seen);
      expect(guard.advise()).toMatchObject({
        kind: 'slow',
        reason: 'API event-loop delay 33 ms > 30 ms',
      });
      await expect.poll(() => guard.advise(), { interval: 5 }).toEqual({ kind: 'go' });
      // Four times over (120 ms): to a quarter at once.
      await report(120);
      await expect.poll(() => guard.advise().kind, { interval: 5 }).toBe('slow');
      expect(shareOf(guard.advise())).toBeCloseTo(0.25, 5);
      await report(25);
      const probesAtHealthy = guard.probes;
      await expect
        .poll(() => guard.advise(), { interval: 5, timeout: 10_000 })
        .toEqual({ kind: 'go' });
      // 0.25 -> 1 in steps of a tenth: eight healthy probes (the first may have read 120 still).
      expect(guard.probes - probesAtHealthy).toBeGreaterThanOrEqual(8);
    } finally {
      guard.stop();
      await t.redis.del(keys.api('api-s'), keys.apis);
    }
  });

  it('ignores the late event loop of an API process that serves next to nothing', async () => {
    const prefix = `${t.settings.queuePrefix}:idle-api`;
    const keys = apiHealthKeys(prefix);
    const guard = new SourceGuard(
      t.db,
      {
        latencyMs: null,
        maxActiveBackends: null,
        maxLockWaits: null,
        probeIntervalMs: 50,
        apiLagMs: 30,
        apiDbQueue: null,
      },
      new ApiHealthReader(t.redis, prefix),
    );
    const report = (busyShare: number) =>
      t.redis
        .multi()
        .set(
          keys.api('api-i'),
          JSON.stringify({ delayP99Ms: 90, dbWaitingMean: 0, busyShare }),
          'PX',
          60_000,
        )
        .zadd(keys.apis, String(Date.now()), 'api-i')
        .exec();
    try {
      // 90 ms late, but a connection in use in 5% of its window: nobody waits for it.
      await report(0.05);
      guard.advise();
      const seen = guard.probes;
      await expect.poll(() => guard.probes, { interval: 5 }).toBeGreaterThan(seen + 3);
      expect(guard.advise()).toEqual({ kind: 'go' });
      expect(guard.lastApiHealth?.delayP99Ms).toBe(0);
      // The same delay while it serves requests most of the time slows the pages.
      await report(0.6);
      await expect
        .poll(() => guard.advise(), { interval: 5 })
        .toMatchObject({
          kind: 'slow',
          reason: 'API event-loop delay 90 ms > 30 ms',
        });
    } finally {
      guard.stop();
      await t.redis.del(keys.api('api-i'), keys.apis);
    }
  });

  it('says why while the API is late, publishes little, then completes exactly once', async () => {
    // A process of its own publishes its health as the API does; its loop is made late for real.
    api = fork(fileURLToPath(new URL('./fixtures/api-health-process.ts', import.meta.url)), {
      execArgv: ['--import', 'tsx'],
      env: { ...process.env, HEALTH_PREFIX: t.settings.queuePrefix },
    });
    await once(api, 'message');
    api.send('block');
    const keys = apiHealthKeys(t.settings.queuePrefix);
    const reader = new ApiHealthReader(t.redis, t.settings.queuePrefix);
    await expect
      .poll(async () => (await reader.worst())?.delayP99Ms ?? 0, { interval: 50, timeout: 20_000 })
      .toBeGreaterThan(apiLagMs);
    expect(await t.redis.zcard(keys.apis)).toBe(1);

    const workers = t.startWorkers();
    const guard = workers.sourceGuard;
    if (!guard) throw new Error('expected a source guard');
    const { tenantId } = await seedTenant(t.db, {
      tenantName: 'slowed-by-api',
      organizations: 5,
      memberships: rows,
      creditAllocations: 0,
      app: 'crm',
      seed: 12,
    });
    const run = await t.enableAndEnqueue(tenantId, { pageSize });
    const memberships = async () => {
      const current = await getRun(t.db, run.id);
      if (!current) throw new Error('run missing');
      return viewRun(current).resources.memberships;
    };
    await expect
      .poll(async () => (await memberships())?.throttled ?? '', { interval: 20, timeout: 20_000 })
      .toMatch(
        /^throttled by source load: API event-loop delay \d+ ms > 150 ms \(for (under a second|\d+ s)\)$/,
      );

    // Slowed: three seconds of waits before pages (each up to a second once the delay has
    // doubled up), and the run is still far from done: at full speed it takes well under that.
    await expect
      .poll(() => guard.throttledSeconds, { interval: 50, timeout: 30_000 })
      .toBeGreaterThan(3);
    const stream = streamName(HISTORICAL_EVENT_TYPE.memberships, 'crm', t.settings.streamPrefix);
    expect(await t.redis.xlen(stream)).toBeLessThan(rows / 2);
    expect((await getRun(t.db, run.id))?.status).toBe('running');

    // The API recovers: the status clears, the pages go at full speed, every row goes out once.
    api.send('unblock');
    await expect
      .poll(async () => (await memberships())?.throttled ?? null, { interval: 20, timeout: 20_000 })
      .toBeNull();
    const waitedAtRecovery = guard.throttledSeconds;
    expect((await t.waitForRun(run.id, ['completed', 'failed'], 60_000)).status).toBe('completed');
    // Full speed: the rest of the pages (most of them) waited next to nothing in all.
    expect(guard.throttledSeconds - waitedAtRecovery).toBeLessThan(1);
    const events = (await t.readEvents(stream)).filter((e) => e.runId === run.id);
    expect(events).toHaveLength(rows);
    expect(new Set(events.map((e) => e.eventId)).size).toBe(rows);
  });
});
