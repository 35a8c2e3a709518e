/**
 * Flow control never reads a group's unknown lag as 0: with entries deleted ahead of a group
 * (Redis then cannot count its lag), the backlog is the stream's length, even with nothing
 * pending, so a group nobody reads still holds a backfill back.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { streamBacklog } from '../src/pacing/flow-control';
import { streamGroups } from '../src/redis/stream-groups';

describe('flow control with an unknown lag', () => {
  let redis: Redis;
  const stream = `t${randomBytes(4).toString('hex')}:unknown-lag`;
  beforeAll(() => {
    redis = new Redis(process.env.REDIS_URL as string);
  });
  afterAll(async () => {
    await redis.del(stream);
    redis.disconnect();
  });

  it('counts a group whose lag Redis cannot tell, with nothing pending, as the stream length', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 10; i++)
      ids.push((await redis.xadd(stream, '*', 'event', `${i}`)) as string);
    await redis.xgroup('CREATE', stream, 'asleep', '0');
    await redis.xdel(stream, ids[4] as string);
    expect(await streamGroups(redis, stream)).toEqual([{ name: 'asleep', lag: null, pending: 0 }]);
    expect(await streamBacklog(redis, stream)).toBe(9);

    // Once its consumer has been delivered the stream's last entry, Redis knows the lag again.
    await redis.xreadgroup('GROUP', 'asleep', 'c1', 'COUNT', 100, 'STREAMS', stream, '>');
    expect(await streamGroups(redis, stream)).toEqual([{ name: 'asleep', lag: 0, pending: 9 }]);
    expect(await streamBacklog(redis, stream)).toBe(9);
    await redis.xack(stream, 'asleep', ...ids);
    expect(await streamBacklog(redis, stream)).toBe(0);
  });
});
