/**
 * A backfill against a local 3-master Redis Cluster: BullMQ with a hash-tagged prefix, the page
 * transaction (checkpoint, control and stream keys share a slot, and the page goes to that slot's
 * node), markers and the throttle all work, and every row is published exactly once.
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
import { BackfillQueues, getRun, startBackfillWorkers, toggleApplication } from '../src/index';

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
});
