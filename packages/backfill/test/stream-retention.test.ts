/**
 * Retention by acknowledgement against a real Redis: a trim removes what every group has
 * acknowledged and nothing any group still needs (unread, or read and pending), however the groups
 * stand; a stream with no group keeps its entries for the ungrouped window; the retention window
 * keeps recent acknowledged entries.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { trimStream } from '../src/redis/stream-retention';

const ENTRIES = 3_000;
const HOUR_MS = 3_600_000;

describe('stream retention', () => {
  let redis: Redis;
  const prefix = `retention-${randomBytes(4).toString('hex')}:`;
  beforeAll(() => {
    redis = new Redis(process.env.REDIS_URL as string);
  });
  afterAll(async () => {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
  });

  async function streamOf(name: string, entries = ENTRIES, bytes = 0): Promise<string[]> {
    const stream = `${prefix}${name}`;
    const pipeline = redis.pipeline();
    const pad = 'x'.repeat(bytes);
    for (let i = 0; i < entries; i++) pipeline.xadd(stream, '*', 'event', `${i}${pad}`);
    const ids = (await pipeline.exec())?.map(([, id]) => id as string) ?? [];
    return [stream, ...ids];
  }

  /** Reads `count` entries as `group` (new entries only), acknowledging the first `ack` of them. */
  async function read(stream: string, group: string, count: number, ack: number) {
    const read = (await redis.xreadgroup(
      'GROUP',
      group,
      'c1',
      'COUNT',
      count,
      'STREAMS',
      stream,
      '>',
    )) as [string, [string, string[]][]][];
    const ids = read[0]?.[1].map(([id]) => id) ?? [];
    if (ack > 0) await redis.xack(stream, group, ...ids.slice(0, ack));
    return ids;
  }

  const remaining = async (stream: string) =>
    new Set((await redis.xrange(stream, '-', '+')).map(([id]) => id));

  it('trims only what every group has acknowledged', async () => {
    const [stream, ...ids] = await streamOf('two-groups');
    await redis.xgroup('CREATE', stream as string, 'fast', '0');
    await redis.xgroup('CREATE', stream as string, 'slow', '0');
    // fast: read 2,500, acknowledged 2,400 (100 pending). slow: read and acknowledged 1,200.
    await read(stream as string, 'fast', 2_500, 2_400);
    await read(stream as string, 'slow', 1_200, 1_200);

    const removed = await trimStream(redis, stream as string, {
      windowMs: 0,
      ungroupedWindowMs: HOUR_MS,
    });
    const left = await remaining(stream as string);
    expect(removed).toBeGreaterThan(0);
    expect(left.size + removed).toBe(ENTRIES);
    // Everything slow has not read (from its last-delivered id on) is still there.
    for (const id of ids.slice(1_199)) expect(left.has(id)).toBe(true);
    // Trimming only removed acknowledged entries: the removed ones are a prefix before slow's.
    expect(removed).toBeLessThanOrEqual(1_199);

    // Both groups acknowledge everything: the stream drops to its last node at most.
    await read(stream as string, 'slow', ENTRIES, ENTRIES);
    const pending = (await redis.xpending(stream as string, 'fast', '-', '+', 1_000)) as [string][];
    await redis.xack(stream as string, 'fast', ...pending.map(([id]) => id));
    await read(stream as string, 'fast', ENTRIES, ENTRIES);
    await trimStream(redis, stream as string, { windowMs: 0, ungroupedWindowMs: HOUR_MS });
    const last = await remaining(stream as string);
    expect(last.size).toBeLessThanOrEqual(100); // one macro node (stream-node-max-entries)
    expect(last.has(ids[ids.length - 1] as string)).toBe(true);
  });

  it('never trims what a group that never reads has not read, however long ago', async () => {
    const [stream, ...ids] = await streamOf('idle-group');
    await redis.xgroup('CREATE', stream as string, 'idle', '0');
    expect(await trimStream(redis, stream as string, { windowMs: 0, ungroupedWindowMs: 0 })).toBe(
      0,
    );
    expect((await remaining(stream as string)).size).toBe(ids.length);
  });

  it('keeps a stream with no group for the ungrouped window, then trims it by age', async () => {
    const [stream] = await streamOf('no-group');
    expect(
      await trimStream(redis, stream as string, { windowMs: 0, ungroupedWindowMs: HOUR_MS }),
    ).toBe(0);
    expect(await redis.xlen(stream as string)).toBe(ENTRIES);
    // A window of 0: every entry is older than now.
    await trimStream(redis, stream as string, { windowMs: 0, ungroupedWindowMs: 0 });
    expect(await redis.xlen(stream as string)).toBeLessThanOrEqual(100);
  });

  it('keeps acknowledged entries younger than the retention window', async () => {
    const [stream] = await streamOf('window');
    await redis.xgroup('CREATE', stream as string, 'all', '0');
    await read(stream as string, 'all', ENTRIES, ENTRIES);
    expect(
      await trimStream(redis, stream as string, { windowMs: HOUR_MS, ungroupedWindowMs: HOUR_MS }),
    ).toBe(0);
    expect(await redis.xlen(stream as string)).toBe(ENTRIES);
  });

  it('trims a long stream in calls of bounded size, to the floor', async () => {
    // Entries larger than real events (about 700 bytes): a macro node (4 KB) holds three, so a
    // call's limit does not fall on a node's end and a call stops short of it.
    const [stream] = await streamOf('long', 25_000, 1_300);
    await redis.xgroup('CREATE', stream as string, 'all', '0');
    await read(stream as string, 'all', 25_000, 25_000);
    const removed = await trimStream(redis, stream as string, {
      windowMs: 0,
      ungroupedWindowMs: HOUR_MS,
    });
    expect(removed).toBeGreaterThanOrEqual(24_900);
    expect(await redis.xlen(stream as string)).toBeLessThanOrEqual(100);
  });
});
