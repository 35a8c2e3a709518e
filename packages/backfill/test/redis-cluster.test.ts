/**
 * A backfill against a local 3-master Redis Cluster: BullMQ with a hash-tagged prefix, the page
 * transaction (checkpoint, control and stream keys share a slot, and the page goes to that slot's
 * node), markers and the throttle all work, and every row is published exactly once. Stream
 * retention trims each stream by one script on its own node.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  HISTORICAL_EVENT_TYPE,
  type Resource,
  StreamEvent,
  streamName,
} from '@historical-sync/contracts';
import { seedTenant } from '@historical-sync/db';
import { createTestDatabase, type TestDatabase } from '@historical-sync/db/testing';
import { type RedisCluster, startRedisCluster } from '@historical-sync/local-stack';
import { Cluster } from 'ioredis';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BackfillQueues,
  getRun,
  startBackfillWorkers,
  toggleApplication,
  trimSystemStreams,
} from '../src/index';

describe('backfill on Redis Cluster', () => {
  let cluster: RedisCluster;
  let redis: Cluster;
  let test: TestDatabase;
  beforeAll(async () => {
    cluster = await startRedisCluster(await mkdtemp(join(tmpdir(), 'redis-cluster-')));
    redis = new Cluster(cluster.nodes, { redisOptions: { maxRetriesPerRequest: null } });
    test = await createTestDatabase('redis_cluster');
  });
  afterAll(async () => {
    redis?.disconnect();
    await cluster?.stop();
    await test?.destroy();
  });

  it('completes exactly once', async () => {
    const settings = {
      queuePrefix: '{hs-cluster}',
      streamPrefix: '',
      pageSize: 50,
      maxEventsPerSecond: null,
      partitions: 2,
      maxStreamBacklog: null,
      timeSliceMs: 2_000,
    };
    const queues = new BackfillQueues(redis, settings.queuePrefix);
    const workers = startBackfillWorkers(
      { db: test.db, redis, settings, logger: pino({ level: 'silent' }) },
      {
        queues: ['runs', 'credits', 'organizations', 'memberships'],
        concurrency: 2,
        lockDurationMs: 5_000,
        stalledIntervalMs: 1_000,
      },
    );
    try {
      const rows = { organizations: 120, memberships: 2_000, creditAllocations: 80 };
      const { tenantId } = await seedTenant(test.db, {
        tenantName: 'cluster',
        app: 'crm',
        seed: 5,
        ...rows,
      });
      const { run } = await toggleApplication(
        test.db,
        { redis, streamPrefix: settings.streamPrefix },
        {
          tenantId,
          application: 'crm',
          isEnabled: true,
          skipHistoricalSync: false,
          pageSize: 50,
          maxEventsPerSecond: 50_000,
          partitions: 2,
        },
      );
      if (!run) throw new Error('expected a run');
      await queues.enqueueRun(run);
      await expect
        .poll(async () => (await getRun(test.db, run.id))?.status, {
          timeout: 60_000,
          interval: 100,
        })
        .toBe('completed');

      const expected: Record<Resource, number> = {
        credits: rows.creditAllocations,
        organizations: rows.organizations,
        memberships: rows.memberships,
      };
      const streams = new Set<number>();
      for (const resource of Object.keys(expected) as Resource[]) {
        const stream = streamName(HISTORICAL_EVENT_TYPE[resource], 'crm');
        streams.add(Number(await redis.cluster('KEYSLOT', stream)));
        const events = (await redis.xrange(stream, '-', '+')).map(([, fields]) =>
          StreamEvent.parse(JSON.parse(fields[1] as string)),
        );
        const rowEvents = events.filter((e) => !e.eventType.startsWith('sync.'));
        expect(rowEvents).toHaveLength(expected[resource]);
        expect(new Set(rowEvents.map((e) => e.eventId)).size).toBe(expected[resource]);
        expect(events.map((e) => e.eventType).filter((t) => t.startsWith('sync.'))).toEqual([
          'sync.started',
          'sync.completed',
        ]);
      }
      // The three streams really live in different slots, so this was a real cross-node run.
      expect(streams.size).toBe(3);
    } finally {
      await workers.close();
      await queues.close();
    }
  });

  it('trims each stream on its own node to what its groups acknowledged, and nothing a group has not read', async () => {
    const streams = (['credits', 'organizations', 'memberships'] as const).map((resource) =>
      streamName(HISTORICAL_EVENT_TYPE[resource], 'crm', 'trim:'),
    );
    const slots = new Set<number>();
    for (const stream of streams) {
      slots.add(Number(await redis.cluster('KEYSLOT', stream)));
      for (let i = 0; i < 2_000; i += 500) {
        const pipeline = redis.pipeline();
        for (let j = 0; j < 500; j++) pipeline.xadd(stream, '*', 'event', String(i + j));
        await pipeline.exec();
      }
      await redis.xgroup('CREATE', stream, 'reader', '0');
      await redis.xgroup('CREATE', stream, 'late', '$');
      // reader reads and acknowledges 1,500 of 2,000; late is at the end and reads nothing new.
      const read = (await redis.xreadgroup(
        'GROUP',
        'reader',
        'c',
        'COUNT',
        1_500,
        'STREAMS',
        stream,
        '>',
      )) as [string, [string, string[]][]][];
      const ids = read[0]?.[1].map(([id]) => id) ?? [];
      await redis.xack(stream, 'reader', ...ids);
      // One entry more for late to find.
      await redis.xadd(stream, '*', 'event', 'after');
    }
    expect(slots.size).toBe(3);

    // The system's streams under this prefix, as the worker's retention trims them.
    const removed = await trimSystemStreams(
      { db: test.db, redis, streamPrefix: 'trim:' },
      { windowMs: 0, ungroupedWindowMs: 3_600_000 },
    );
    for (const stream of streams) {
      const length = await redis.xlen(stream);
      // reader's 500 unread entries and late's one, and at most one macro node (100 entries) of
      // acknowledged ones: `~` trims whole nodes, and reader's last-delivered entry stays.
      expect(length, stream).toBeGreaterThanOrEqual(501);
      expect(length, stream).toBeLessThanOrEqual(501 + 100);
      expect(removed[stream], stream).toBe(2_001 - length);
      const late = (await redis.xreadgroup(
        'GROUP',
        'late',
        'c',
        'COUNT',
        10,
        'STREAMS',
        stream,
        '>',
      )) as [string, [string, string[]][]][];
      expect(late[0]?.[1].map(([, fields]) => fields[1])).toEqual(['after']);
    }
  });
});
