import { randomBytes, randomUUID } from 'node:crypto';
import { EVENT_FIELD, type StreamEvent } from '@historical-sync/contracts';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StreamConsumer } from '../src/index';

const tenantId = randomUUID();
const orgEvent = (n: number) => {
  const id = randomUUID();
  return {
    eventId: `organization:${id}:v1`,
    eventType: 'org.created',
    tenantId,
    version: 1,
    occurredAt: new Date().toISOString(),
    runId: null,
    entityId: id,
    code: `org-${n}`,
    name: `Org ${n}`,
    description: null,
    industry: null,
    website: null,
    parentId: null,
    isActive: true,
    metadata: {
      targetApplication: 'crm',
      isHistoricalSync: false,
      originalCreatedAt: new Date().toISOString(),
    },
  };
};

describe('StreamConsumer', () => {
  let redis: Redis;
  const prefix = `t${randomBytes(4).toString('hex')}:`;
  const consumers: StreamConsumer[] = [];
  beforeAll(() => {
    redis = new Redis(process.env.REDIS_URL as string);
  });
  afterAll(async () => {
    await Promise.all(consumers.map((c) => c.stop()));
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
  });

  const add = async (stream: string, value: unknown) =>
    redis.xadd(stream, '*', EVENT_FIELD, typeof value === 'string' ? value : JSON.stringify(value));
  const consumer = (
    options: Partial<ConstructorParameters<typeof StreamConsumer>[0]> & {
      streams: string[];
      group: string;
    },
  ) => {
    const c = new StreamConsumer({
      redis,
      consumer: `c-${randomBytes(3).toString('hex')}`,
      handler: async () => {},
      blockMs: 100,
      claimIdleMs: 300,
      claimIntervalMs: 100,
      ...options,
    });
    consumers.push(c);
    return c;
  };

  it('reads several streams, acknowledges after the handler, and creating the group twice is harmless', async () => {
    const streams = [`${prefix}a`, `${prefix}b`];
    for (let i = 0; i < 10; i++) await add(streams[i % 2] as string, orgEvent(i));
    const seen: string[] = [];
    const first = consumer({
      streams,
      group: 'g1',
      handler: async (e) => void seen.push(e.eventId),
    });
    await first.start();
    const again = consumer({ streams, group: 'g1' });
    await again.start(); // BUSYGROUP is not an error
    await again.stop();
    await expect.poll(() => seen.length).toBe(10);
    await expect
      .poll(async () => (await first.lag()).every((s) => s.pending === 0 && s.lag === 0))
      .toBe(true);
  });

  it('sends a malformed entry to the dead-letter stream with its reason and keeps going', async () => {
    const stream = `${prefix}malformed`;
    await add(stream, '{not json');
    await add(stream, { ...orgEvent(1), version: 'one' });
    const good = orgEvent(2);
    await add(stream, good);
    const seen: string[] = [];
    const c = consumer({
      streams: [stream],
      group: 'g2',
      handler: async (e) => void seen.push(e.eventId),
      deadLetterStream: `${prefix}dlq2`,
    });
    await c.start();
    await expect.poll(() => seen).toEqual([good.eventId]);
    const dead = await redis.xrange(`${prefix}dlq2`, '-', '+');
    expect(dead).toHaveLength(2);
    const reasons = dead.map(([, fields]) => fields[fields.indexOf('reason') + 1]);
    expect(reasons[0]).toMatch(/invalid event: .*JSON/);
    expect(reasons[1]).toMatch(/invalid event: version: /);
    await expect.poll(async () => (await c.lag())[0]?.pending).toBe(0);
  });

  it('retries a failing entry, then dead-letters it after maxDeliveries with the last error', async () => {
    const stream = `${prefix}failing`;
    const poison = orgEvent(1);
    const fine = orgEvent(2);
    await add(stream, poison);
    await add(stream, fine);
    const attempts = new Map<string, number>();
    const c = consumer({
      streams: [stream],
      group: 'g3',
      maxDeliveries: 3,
      deadLetterStream: `${prefix}dlq3`,
      handler: async (e: StreamEvent) => {
        attempts.set(e.eventId, (attempts.get(e.eventId) ?? 0) + 1);
        if (e.eventId === poison.eventId) throw new Error('projection exploded');
      },
    });
    await c.start();
    await expect.poll(async () => redis.xlen(`${prefix}dlq3`), { timeout: 10_000 }).toBe(1);
    expect(attempts.get(poison.eventId)).toBe(3);
    expect(attempts.get(fine.eventId)).toBe(1);
    const [[, fields]] = (await redis.xrange(`${prefix}dlq3`, '-', '+')) as [[string, string[]]];
    expect(fields[fields.indexOf('reason') + 1]).toMatch(
      /gave up after 3 deliveries: projection exploded/,
    );
    await expect.poll(async () => (await c.lag())[0]?.pending).toBe(0);
  });

  it("reclaims a dead consumer's pending entries; each is applied once", async () => {
    const stream = `${prefix}reclaim`;
    const events = Array.from({ length: 40 }, (_, i) => orgEvent(i));
    for (const e of events) await add(stream, e);

    // The first consumer takes a batch and dies in the middle of it: its handler never returns.
    let taken = 0;
    const dying = consumer({
      streams: [stream],
      group: 'g4',
      batchSize: 40,
      claimIdleMs: 60_000,
      handler: () => {
        taken += 1;
        return new Promise(() => {});
      },
    });
    await dying.start();
    await expect.poll(() => taken).toBe(1);
    expect((await dying.lag())[0]?.pending).toBe(40);

    const applied = new Map<string, number>();
    const survivor = consumer({
      streams: [stream],
      group: 'g4',
      claimIdleMs: 300,
      handler: async (e) => {
        applied.set(e.eventId, (applied.get(e.eventId) ?? 0) + 1);
      },
    });
    await survivor.start();
    await expect.poll(() => applied.size, { timeout: 10_000 }).toBe(40);
    expect([...applied.values()].every((n) => n === 1)).toBe(true);
    await expect.poll(async () => (await survivor.lag())[0]?.pending).toBe(0);
    consumers.splice(consumers.indexOf(dying), 1); // its loop never returns; drop its connection
    (dying as unknown as { reader: Redis }).reader.disconnect();
  });
});
