/**
 * The API process publishes its own health for source protection (api-health.ts): its key
 * appears under the queue prefix with a TTL of a few seconds and its id in the set of API
 * processes; a stop removes both; `BACKFILL_API_LAG_MS=0` with `BACKFILL_API_DB_QUEUE=0` publishes nothing.
 */
import { randomBytes } from 'node:crypto';
import { createTestDatabase, type TestDatabase } from '@historical-sync/db/testing';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Command, envWithout, killCommand, runApp } from './helpers';

describe('the API process and its health signal', () => {
  let database: TestDatabase;
  let redis: Redis;
  let started: Command | undefined;
  beforeAll(async () => {
    database = await createTestDatabase('api_health');
    redis = new Redis(process.env.REDIS_URL ?? '', { maxRetriesPerRequest: null });
  });
  afterAll(async () => {
    await killCommand(started);
    redis.disconnect();
    await database.destroy();
  });

  const start = async (extra: NodeJS.ProcessEnv) => {
    const prefix = `t${randomBytes(4).toString('hex')}`;
    started = runApp('api', {
      ...envWithout('HOST', 'PORT', 'QUEUE_PREFIX', 'BACKFILL_API_LAG_MS', 'BACKFILL_API_DB_QUEUE'),
      DATABASE_URL: database.url,
      PORT: '0',
      LOG_LEVEL: 'info',
      QUEUE_PREFIX: prefix,
      BACKFILL_SOURCE_PROTECTION: 'on',
      ...extra,
    });
    await started.waitFor(/API listening on/);
    return { prefix, api: started };
  };
  const stop = async (api: Command) => {
    api.child.kill('SIGTERM');
    expect((await api.exit()).code).toBe(0);
    started = undefined;
  };

  it('publishes a key per process that expires on its own, and removes it when it stops', async () => {
    const { prefix, api } = await start({});
    await expect
      .poll(async () => (await redis.zrange(`${prefix}:health:apis`, '0', '-1'))[0], {
        interval: 50,
        timeout: 10_000,
      })
      .toMatch(new RegExp(`:${api.child.pid}$`));
    const [member] = await redis.zrange(`${prefix}:health:apis`, '0', '-1');
    const key = `${prefix}:health:api:${member}`;
    const ttl = await redis.pttl(key);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(2_000);
    expect(JSON.parse((await redis.get(key)) ?? 'null')).toEqual({
      delayP99Ms: expect.any(Number),
      dbWaitingMean: expect.any(Number),
      // How busy its pool was: the workers ignore the delay of an API that serves next to nothing.
      busyShare: expect.any(Number),
    });
    await stop(api);
    expect(await redis.exists(key)).toBe(0);
    expect(await redis.zcard(`${prefix}:health:apis`)).toBe(0);
  });

  it('publishes nothing with BACKFILL_API_LAG_MS=0 and BACKFILL_API_DB_QUEUE=0', async () => {
    let others: Command | undefined;
    try {
      const { prefix, api: silent } = await start({
        BACKFILL_API_LAG_MS: '0',
        BACKFILL_API_DB_QUEUE: '0',
      });
      // A publishing API on the same prefix, started after it: once this one has written twice
      // (a publishing interval apart), the silent one, up for longer, would have written too.
      const publishing = runApp('api', {
        ...envWithout(
          'HOST',
          'PORT',
          'QUEUE_PREFIX',
          'BACKFILL_API_LAG_MS',
          'BACKFILL_API_DB_QUEUE',
        ),
        DATABASE_URL: database.url,
        PORT: '0',
        LOG_LEVEL: 'info',
        QUEUE_PREFIX: prefix,
        BACKFILL_SOURCE_PROTECTION: 'on',
      });
      others = publishing;
      const id = new RegExp(`:${publishing.child.pid}$`);
      const seen = async () => await redis.zrange(`${prefix}:health:apis`, '0', '-1', 'WITHSCORES');
      await expect
        .poll(async () => (await seen())[0], { interval: 50, timeout: 10_000 })
        .toMatch(id);
      const firstWrite = (await seen())[1];
      await expect
        .poll(async () => (await seen())[1], { interval: 50, timeout: 10_000 })
        .not.toBe(firstWrite);
      const listed = await seen();
      expect(listed).toHaveLength(2);
      expect(listed[0]).toMatch(id);
      expect(await redis.keys(`${prefix}:health:api:*`)).toEqual([
        `${prefix}:health:api:${listed[0]}`,
      ]);
      await stop(silent);
    } finally {
      await killCommand(others);
    }
  });
});
