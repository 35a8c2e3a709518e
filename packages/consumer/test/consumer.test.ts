import { randomBytes, randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { EVENT_FIELD, type StreamEvent } from '@historical-sync/contracts';
import { localStateDir, type RunningService, startRedis } from '@historical-sync/local-stack';
import { Redis, ReplyError } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InfrastructureError, replayDeadLetters, StreamConsumer } from '../src/index';

const tenantId = randomUUID();
const marker = (runId: string) => ({
  eventId: `run:${runId}:sync.completed:organizations`,
  eventType: 'sync.completed',
  tenantId,
  runId,
  resource: 'organizations',
  resources: ['organizations'],
  occurredAt: new Date().toISOString(),
  counts: { organizations: 2 },
  metadata: { targetApplication: 'crm', isHistoricalSync: true },
});
const orgEvent = (n: number, runId: string | null = null) => {
  const id = randomUUID();
  return {
    eventId: `organization:${id}:v1`,
    eventType: 'org.created',
    tenantId,
    version: 1,
    occurredAt: new Date().toISOString(),
    runId,
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
      isHistoricalSync: runId !== null,
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

  it('recreates its group when the group is destroyed or the stream deleted under it, once each, and goes on', async () => {
    const stream = `${prefix}regroup`;
    const before = [orgEvent(1), orgEvent(2)];
    for (const e of before) await add(stream, e);
    const seen: string[] = [];
    const recreated: { stream: string; group: string; startId: string; error: unknown }[] = [];
    const errors: unknown[] = [];
    const c = consumer({
      streams: [stream],
      group: 'g-regroup',
      handler: async (e) => void seen.push(e.eventId),
      hooks: {
        onGroupRecreated: (event) => void recreated.push(event),
        onError: (error) => void errors.push(error),
      },
    });
    await c.start();
    await expect.poll(() => seen.length).toBe(2);

    // An operator destroys the group (as `hsync streams detach` does) while the consumer reads.
    await redis.xgroup('DESTROY', stream, 'g-regroup');
    const after = [orgEvent(3), orgEvent(4), orgEvent(5)];
    for (const e of after) await add(stream, e);
    await expect
      .poll(() => after.every((e) => seen.includes(e.eventId)), { timeout: 10_000 })
      .toBe(true);
    // Recreated where it starts ('0'): what the stream still holds is delivered again.
    expect(seen.filter((id) => id === before[0]?.eventId)).toHaveLength(2);
    expect(recreated).toHaveLength(1);
    expect(recreated[0]).toMatchObject({ stream, group: 'g-regroup', startId: '0' });
    expect(String(recreated[0]?.error)).toMatch(/NOGROUP|UNBLOCKED/);
    await expect.poll(async () => (await c.lag())[0]).toEqual({ stream, lag: 0, pending: 0 });

    // The stream itself deleted (its group with it), then written again.
    await redis.del(stream);
    const later = orgEvent(6);
    await expect.poll(() => recreated.length, { timeout: 10_000 }).toBe(2);
    await add(stream, later);
    await expect.poll(() => seen.includes(later.eventId), { timeout: 10_000 }).toBe(true);
    expect(recreated).toHaveLength(2);
    expect(errors).toEqual([]);
  });

  it('waits out an outage longer than its retry budget: no delivery used, nothing dead-lettered, one report each way', async () => {
    const stream = `${prefix}outage`;
    const events = Array.from({ length: 30 }, (_, i) => orgEvent(i));
    for (const e of events) await add(stream, e);
    const outageMs = 2_000; // the budget: 2 deliveries, claimed again after 300 ms
    let downUntil = 0;
    const applied = new Map<string, number>();
    const deliveries: number[] = [];
    const outages: unknown[] = [];
    const recoveries: number[] = [];
    const errors: unknown[] = [];
    const c = consumer({
      streams: [stream],
      group: 'g5',
      concurrency: 4,
      maxDeliveries: 2,
      outageInitialDelayMs: 50,
      outageMaxDelayMs: 200,
      deadLetterStream: `${prefix}dlq5`,
      handler: async (e, context) => {
        if (applied.size === 10 && downUntil === 0) downUntil = Date.now() + outageMs;
        if (Date.now() < downUntil) {
          // What node-postgres throws while its server is down.
          throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), {
            code: 'ECONNREFUSED',
          });
        }
        deliveries.push(context.deliveries);
        applied.set(e.eventId, (applied.get(e.eventId) ?? 0) + 1);
      },
      hooks: {
        onOutage: (error) => outages.push(error),
        onRecovered: ({ durationMs }) => recoveries.push(durationMs),
        onError: (error) => errors.push(error),
      },
    });
    await c.start();
    await expect.poll(() => applied.size, { timeout: 15_000 }).toBe(30);
    expect([...applied.values()].every((n) => n === 1)).toBe(true);
    expect(deliveries.every((n) => n === 1)).toBe(true);
    expect(await redis.xlen(`${prefix}dlq5`)).toBe(0);
    // Reported once calls have kept going through for a moment (settled), not at the first one.
    await expect.poll(() => recoveries).toHaveLength(1);
    expect(outages).toHaveLength(1);
    expect(recoveries[0]).toBeGreaterThanOrEqual(outageMs - 100);
    expect(errors).toEqual([]);
    await expect.poll(async () => (await c.lag())[0]?.pending).toBe(0);
  });

  it("counts each reclaimed entry's own deliveries, also with this consumer's younger pending entries between them", async () => {
    const stream = `${prefix}sparse`;
    const group = 'g8';
    const me = 'c-sparse';
    const [first, mine, last] = [orgEvent(1), orgEvent(2), orgEvent(3)];
    const ids = [await add(stream, first), await add(stream, mine), await add(stream, last)];
    await redis.xgroup('CREATE', stream, group, '0');
    // A consumer that died took all three; `first` and `last` were delivered 3 times and have
    // been idle a minute. `mine` is this consumer's, just delivered: pending, not idle enough to
    // be claimed, and between the two it claims.
    await redis.xreadgroup('GROUP', group, 'dead', 'COUNT', 3, 'STREAMS', stream, '>');
    await redis.call(
      'XCLAIM',
      stream,
      group,
      'dead',
      0,
      ids[0] as string,
      ids[2] as string,
      'IDLE',
      60_000,
      'RETRYCOUNT',
      3,
      'JUSTID',
    );
    await redis.call('XCLAIM', stream, group, me, 0, ids[1] as string, 'JUSTID');
    const handled: string[] = [];
    const c = consumer({
      streams: [stream],
      group,
      consumer: me,
      claimIdleMs: 30_000,
      maxDeliveries: 3,
      deadLetterStream: `${prefix}dlq8`,
      handler: async (e) => void handled.push(e.eventId),
    });
    await c.start();
    // Claimed, both are at their 4th delivery: past maxDeliveries, so dead-lettered unhandled.
    await expect.poll(() => redis.xlen(`${prefix}dlq8`)).toBe(2);
    const dead = (await redis.xrange(`${prefix}dlq8`, '-', '+')).map(([, fields]) => ({
      id: fields[fields.indexOf('id') + 1],
      deliveries: fields[fields.indexOf('deliveries') + 1],
    }));
    expect(dead).toEqual([
      { id: ids[0], deliveries: '4' },
      { id: ids[2], deliveries: '4' },
    ]);
    expect(handled).toEqual([]);
    // `mine` stays pending with this consumer, not claimed, counted once.
    const pending = (await redis.xpending(stream, group, '-', '+', 10)) as [
      string,
      string,
      number,
      number,
    ][];
    expect(pending.map(([id, owner, , count]) => [id, owner, count])).toEqual([[ids[1], me, 1]]);
  });

  it("classifies failures: the store away is an outage, a lost race is tried again at once, anything else is the entry's own", async () => {
    const { classifyFailure, isInfrastructureError } = await import('../src/index');
    const coded = (code: string, message = 'x') => Object.assign(new Error(message), { code });
    const kinds = (codes: string[]) => codes.map((code) => classifyFailure(coded(code)));
    // Unreachable, read-only (a failover), out of resources, shut down, system errors, refused.
    const outages = [
      '08006',
      '08001',
      '57P01',
      '57P02',
      '57P03',
      '57P04',
      '25006',
      '53100',
      '53200',
    ];
    outages.push('53300', '53400', '58030', '28P01', '3D000', 'ECONNREFUSED', 'ETIMEDOUT');
    expect(kinds(outages)).toEqual(outages.map(() => 'outage'));
    // Lost to a concurrent transaction, or timed out behind one.
    const conflicts = ['40001', '40P01', '40003', '55P03', '57014', '57P05', '25P03', '25P04'];
    expect(kinds(conflicts)).toEqual(conflicts.map(() => 'retry'));
    // The entry's own: constraints, bad data, the handler's SQL, a constraint at commit, a
    // malformed protocol message, corruption.
    const own = ['23514', '23505', '22P02', '42703', '42P01', '40002', '08P01', 'XX001', '25P02'];
    expect(kinds(own)).toEqual(own.map(() => 'entry'));
    expect(classifyFailure(new Error('Connection terminated unexpectedly'))).toBe('outage');
    expect(classifyFailure(new Error('Connection is closed.'))).toBe('outage');
    expect(classifyFailure(new AggregateError([coded('ECONNREFUSED')]))).toBe('outage');
    expect(classifyFailure(new Error('wrapped', { cause: coded('ETIMEDOUT') }))).toBe('outage');
    expect(classifyFailure(new Error('wrapped', { cause: coded('40001') }))).toBe('retry');
    expect(classifyFailure(new InfrastructureError('search index down'))).toBe('outage');
    expect(classifyFailure(new TypeError('cannot read properties of undefined'))).toBe('entry');
    // Redis replies, by their first word: a replica after a failover, loading after a restart.
    expect(
      classifyFailure(new ReplyError("READONLY You can't write against a read only replica.")),
    ).toBe('outage');
    expect(classifyFailure(new ReplyError('LOADING Redis is loading the dataset in memory'))).toBe(
      'outage',
    );
    const wrongCall = await redis.call('XADD').catch((error: unknown) => error);
    expect(classifyFailure(wrongCall)).toBe('entry');
    expect([isInfrastructureError(coded('40001')), isInfrastructureError(coded('23514'))]).toEqual([
      true,
      false,
    ]);
  });

  it("handles a marker only after the entries before it, across retries, without using its deliveries; it learns its run's dead letters", async () => {
    const stream = `${prefix}barrier`;
    const runId = randomUUID();
    const flaky = orgEvent(1, runId);
    const poison = orgEvent(2, runId);
    await add(stream, flaky);
    await add(stream, poison);
    await add(stream, marker(runId));
    const order: string[] = [];
    let markerContext: { deliveries: number; deadLettered?: number } | undefined;
    let flakyFailures = 0;
    const c = consumer({
      streams: [stream],
      group: 'g6',
      batchSize: 10,
      maxDeliveries: 3,
      deadLetterStream: `${prefix}dlq6`,
      handler: async (e, context) => {
        if (e.eventId === flaky.eventId && flakyFailures < 2) {
          flakyFailures += 1;
          throw new Error('constraint violated, for now');
        }
        if (e.eventId === poison.eventId) throw new Error('never applies');
        if (e.eventType === 'sync.completed') markerContext = context;
        order.push(e.eventId);
      },
    });
    await c.start();
    await expect.poll(() => markerContext, { timeout: 15_000 }).toBeDefined();
    // The flaky entry was retried twice, the poison one dead-lettered after 3 deliveries, and the
    // marker waited for both (several times) yet arrives as a first delivery.
    expect(order).toEqual([flaky.eventId, marker(runId).eventId]);
    expect(markerContext).toMatchObject({ deliveries: 1, deadLettered: 1 });
    expect(await redis.xlen(`${prefix}dlq6`)).toBe(1);
    await expect.poll(async () => (await c.lag())[0]?.pending).toBe(0);

    // After the fix, a replay hands the entry over again and removes it; a second one finds nothing.
    const replayedIds: string[] = [];
    const replay = () =>
      replayDeadLetters({
        redis,
        deadLetterStream: `${prefix}dlq6`,
        handler: async (e, context) => {
          expect(context.replay).toBe(true);
          replayedIds.push(e.eventId);
        },
      });
    expect(await replay()).toMatchObject({ replayed: 1, failed: [], runs: [runId] });
    expect(replayedIds).toEqual([poison.eventId]);
    expect(await redis.xlen(`${prefix}dlq6`)).toBe(0);
    expect(await replay()).toMatchObject({ replayed: 0, failed: [], runs: [] });
  });

  it('keeps an entry that still fails in the dead-letter stream on replay, with the reason', async () => {
    const stream = `${prefix}replay-fail`;
    await add(stream, '{not json');
    const c = consumer({ streams: [stream], group: 'g7', deadLetterStream: `${prefix}dlq7` });
    await c.start();
    await expect.poll(() => redis.xlen(`${prefix}dlq7`)).toBe(1);
    const result = await replayDeadLetters({
      redis,
      deadLetterStream: `${prefix}dlq7`,
      handler: async () => {},
    });
    expect(result.replayed).toBe(0);
    expect(result.failed).toEqual([
      expect.objectContaining({ reason: expect.stringMatching(/invalid event: .*JSON/) }),
    ]);
    expect(await redis.xlen(`${prefix}dlq7`)).toBe(1);
  });
});

describe('StreamConsumer through a Redis restart', () => {
  it('waits out Redis being down with one report each way, and loses and dead-letters nothing', {
    timeout: 60_000,
  }, async () => {
    const dataDir = localStateDir(`consumer-redis-outage-${process.pid}-${Date.now()}`);
    let server: RunningService | undefined = await startRedis({ dataDir, appendOnly: true });
    const port = Number(new URL(server.url).port);
    // Commands fail while Redis is down (instead of queueing), as the outage path expects.
    const redis = new Redis(server.url, { maxRetriesPerRequest: 1, retryStrategy: () => 100 });
    redis.on('error', () => {}); // reported by the consumer's outage hooks
    const stream = 'redis-outage';
    const add = (n: number) => redis.xadd(stream, '*', EVENT_FIELD, JSON.stringify(orgEvent(n)));
    for (let n = 0; n < 20; n++) await add(n);
    const seen = new Set<string>();
    const outages: unknown[] = [];
    const recoveries: number[] = [];
    const errors: unknown[] = [];
    const c = new StreamConsumer({
      redis,
      streams: [stream],
      group: 'g',
      consumer: 'c',
      blockMs: 100,
      claimIdleMs: 300,
      claimIntervalMs: 100,
      maxDeliveries: 1,
      outageInitialDelayMs: 50,
      outageMaxDelayMs: 100,
      deadLetterStream: 'dlq',
      handler: async (e) => void seen.add(e.eventId),
      hooks: {
        onOutage: (error) => outages.push(error),
        onRecovered: ({ durationMs }) => recoveries.push(durationMs),
        onError: (error) => errors.push(error),
      },
    });
    (c as unknown as { reader: Redis }).reader.on('error', () => {});
    try {
      await c.start();
      await expect.poll(() => seen.size).toBe(20);
      await server.stop();
      server = undefined;
      await new Promise((resolve) => setTimeout(resolve, 1_500)); // the outage itself
      server = await startRedis({ dataDir, appendOnly: true, preferredPort: port });
      expect(new URL(server.url).port).toBe(String(port));
      for (let n = 20; n < 40; n++) await add(n);
      await expect.poll(() => seen.size, { timeout: 20_000 }).toBe(40);
      await expect.poll(() => recoveries, { timeout: 10_000 }).toHaveLength(1);
      expect(outages).toHaveLength(1);
      expect(recoveries[0]).toBeGreaterThanOrEqual(1_000);
      expect(errors).toEqual([]);
      expect(await redis.xlen('dlq')).toBe(0);
    } finally {
      await c.stop();
      redis.disconnect();
      await server?.stop();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});

describe('StreamConsumer through a Redis failover', () => {
  it('waits out its Redis turned into a replica (READONLY) with one report each way, and handles every entry once', {
    timeout: 60_000,
  }, async () => {
    const dataDir = localStateDir(`consumer-redis-readonly-${process.pid}-${Date.now()}`);
    const server = await startRedis({ dataDir, appendOnly: false });
    const redis = new Redis(server.url, { maxRetriesPerRequest: 1 });
    const admin = new Redis(server.url);
    redis.on('error', () => {});
    const stream = 'readonly';
    const add = (n: number) => redis.xadd(stream, '*', EVENT_FIELD, JSON.stringify(orgEvent(n)));
    for (let n = 0; n < 40; n++) await add(n);
    const handled = new Map<string, number>();
    const outages: unknown[] = [];
    const recoveries: number[] = [];
    const errors: unknown[] = [];
    const c = new StreamConsumer({
      redis,
      streams: [stream],
      group: 'g',
      consumer: 'c',
      batchSize: 10,
      blockMs: 100,
      claimIdleMs: 300,
      claimIntervalMs: 100,
      maxDeliveries: 1,
      outageInitialDelayMs: 50,
      outageMaxDelayMs: 100,
      deadLetterStream: 'dlq',
      // Slow enough that the failover meets entries in hand, whose acknowledgements it refuses.
      handler: async (e) => {
        await new Promise((resolve) => setTimeout(resolve, 20));
        handled.set(e.eventId, (handled.get(e.eventId) ?? 0) + 1);
      },
      hooks: {
        onOutage: (error) => outages.push(error),
        onRecovered: ({ durationMs }) => recoveries.push(durationMs),
        onError: (error) => errors.push(error),
      },
    });
    try {
      await c.start();
      await expect.poll(() => handled.size).toBeGreaterThan(5);
      // Demoted, as a primary is in a failover: a replica of a master that does not answer
      // (port 1), refusing every write (XREADGROUP and XACK are writes) with READONLY.
      await admin.call('REPLICAOF', '127.0.0.1', '1');
      await expect.poll(() => outages).toHaveLength(1);
      await new Promise((resolve) => setTimeout(resolve, 1_000)); // the failover itself
      await admin.call('REPLICAOF', 'NO', 'ONE');
      for (let n = 40; n < 60; n++) await add(n);
      await expect.poll(() => handled.size, { timeout: 20_000 }).toBe(60);
      await expect.poll(() => recoveries, { timeout: 10_000 }).toHaveLength(1);
      expect(String(outages[0])).toMatch(/^ReplyError: READONLY/);
      expect([...handled.values()].every((n) => n === 1)).toBe(true);
      expect(errors).toEqual([]);
      expect(await redis.xlen('dlq')).toBe(0);
      await expect.poll(async () => (await c.lag())[0]?.pending).toBe(0);
    } finally {
      await c.stop();
      redis.disconnect();
      admin.disconnect();
      await server.stop();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
