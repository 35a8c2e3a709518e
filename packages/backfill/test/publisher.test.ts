import { randomUUID } from 'node:crypto';
import calculateSlot from 'cluster-key-slot';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkpointKey, controlKey, publishPage, readCheckpoint } from '../src/publisher';
import { raiseRunBarrier } from '../src/run-barrier';

describe('publishPage', () => {
  let redis: Redis;
  const prefix = `t${randomUUID().slice(0, 8)}:`;
  beforeAll(() => {
    redis = new Redis(process.env.REDIS_URL as string);
  });
  afterAll(async () => {
    const keys = await redis.keys(`*${prefix}*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
  });

  const page = (
    stream: string,
    key: string,
    expectedCursor: string,
    nextCursor: string,
    n: number,
    runId = 'run-1',
  ) => ({
    runId,
    checkpointKey: key,
    stream,
    expectedCursor,
    nextCursor,
    events: Array.from({ length: n }, (_, i) => JSON.stringify({ n: i, page: nextCursor })),
  });

  it('adds every event of a page and advances the checkpoint in one step', async () => {
    const stream = `${prefix}crm:sync:organization:org_created`;
    const key = checkpointKey(stream, 'run-1', 'organizations');
    expect(await readCheckpoint(redis, key)).toEqual({ cursor: '', published: 0 });

    const first = await publishPage(redis, page(stream, key, '', 'id-100', 100));
    expect(first).toEqual({ outcome: 'published', cursor: 'id-100', published: 100 });
    const second = await publishPage(redis, page(stream, key, 'id-100', 'id-150', 50));
    expect(second).toEqual({ outcome: 'published', cursor: 'id-150', published: 150 });
    expect(await redis.xlen(stream)).toBe(150);
    expect(await readCheckpoint(redis, key)).toEqual({ cursor: 'id-150', published: 150 });
    expect(await redis.pttl(key)).toBeGreaterThan(0);
  });

  it('publishes nothing when the expected checkpoint is stale (a zombie attempt)', async () => {
    const stream = `${prefix}credit-events`;
    const key = checkpointKey(stream, 'run-2', 'credits');
    await publishPage(redis, page(stream, key, '', 'id-10', 10));
    await publishPage(redis, page(stream, key, 'id-10', 'id-20', 10));

    // A worker that still believes the checkpoint is at id-10 tries to publish id-11..id-20 again.
    const zombie = await publishPage(redis, page(stream, key, 'id-10', 'id-20', 10));
    expect(zombie).toEqual({ outcome: 'stale', cursor: 'id-20', published: 20 });
    expect(await redis.xlen(stream)).toBe(20);
    expect(await readCheckpoint(redis, key)).toEqual({ cursor: 'id-20', published: 20 });
  });

  it('refuses every page of a run whose control key says paused or cancelled', async () => {
    const stream = `${prefix}crm:sync:organization:assignment_created`;
    const key = checkpointKey(stream, 'run-3', 'memberships');
    const barrier = { redis, streamPrefix: prefix };
    const run = { id: 'run-3', appCode: 'crm', resources: ['memberships'] as const };
    await publishPage(redis, page(stream, key, '', 'id-10', 10, 'run-3'));

    await raiseRunBarrier(barrier, run, 5, 'paused');
    expect(await publishPage(redis, page(stream, key, 'id-10', 'id-20', 10, 'run-3'))).toEqual({
      outcome: 'stopped',
      control: { state: 'paused', seq: 5 },
    });
    // An older control arriving late (seq 4) changes nothing; a newer one does.
    await raiseRunBarrier(barrier, run, 4, 'open');
    expect(
      (await publishPage(redis, page(stream, key, 'id-10', 'id-20', 10, 'run-3'))).outcome,
    ).toBe('stopped');
    await raiseRunBarrier(barrier, run, 6, 'open');
    expect(
      (await publishPage(redis, page(stream, key, 'id-10', 'id-20', 10, 'run-3'))).outcome,
    ).toBe('published');
    await raiseRunBarrier(barrier, run, 7, 'cancelled');
    expect(await publishPage(redis, page(stream, key, 'id-20', 'id-30', 10, 'run-3'))).toEqual({
      outcome: 'stopped',
      control: { state: 'cancelled', seq: 7 },
    });
    expect(await redis.xlen(stream)).toBe(20);
    // Another run's pages on the same stream are not stopped by this run's control.
    const other = checkpointKey(stream, 'run-4', 'memberships');
    expect((await publishPage(redis, page(stream, other, '', 'id-5', 5, 'run-4'))).outcome).toBe(
      'published',
    );
  });

  it('keys the checkpoint into the stream hash slot, so the script runs on Redis Cluster', () => {
    for (const stream of [
      'credit-events',
      'crm:sync:organization:org_created',
      'p:hr:sync:organization:assignment_created',
      // A prefix with its own hash tag (how a consumer reads several streams on Cluster).
      '{crm}:crm:sync:organization:org_created',
    ]) {
      expect(calculateSlot(checkpointKey(stream, randomUUID(), 'credits'))).toBe(
        calculateSlot(stream),
      );
      expect(calculateSlot(controlKey(stream, randomUUID()))).toBe(calculateSlot(stream));
    }
  });
});
