/**
 * The relay against a local 3-master Redis Cluster: each stream's script goes to its slot's node,
 * and the batch's lease reads that node's clock, so every event is published once.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { streamName } from '@historical-sync/contracts';
import { createTestDatabase, type TestDatabase } from '@historical-sync/db/testing';
import { allocateCredits } from '@historical-sync/domain';
import { type RedisCluster, startRedisCluster } from '@historical-sync/local-stack';
import { Cluster } from 'ioredis';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OutboxRelay } from '../src/index';
import { createOrganizations, createTenant, setEnabled } from './helpers';

describe('relay on Redis Cluster', () => {
  let cluster: RedisCluster;
  let redis: Cluster;
  let test: TestDatabase;
  beforeAll(async () => {
    cluster = await startRedisCluster(await mkdtemp(join(tmpdir(), 'relay-cluster-')));
    redis = new Cluster(cluster.nodes, { redisOptions: { maxRetriesPerRequest: 1 } });
    test = await createTestDatabase('relay_cluster');
  });
  afterAll(async () => {
    redis?.disconnect();
    await cluster?.stop();
    await test?.destroy();
  });

  it('publishes each event once to streams on different nodes', async () => {
    const tenantId = await createTenant(test.db, 'cluster');
    await setEnabled(test.db, tenantId, 'crm', true);
    await setEnabled(test.db, tenantId, 'hr', true);
    const orgs = await createOrganizations(test.db, tenantId, 10);
    for (const org of orgs) {
      await allocateCredits(test.db, tenantId, {
        entityId: org.id,
        targetApplication: 'hr',
        amount: 3,
      });
    }
    const relay = new OutboxRelay({
      db: test.db,
      redis,
      streamPrefix: '',
      logger: pino({ level: 'silent' }),
    });
    for (;;) {
      const batch = await relay.relayBatch();
      if (batch.rows + batch.failed === 0) break;
    }
    const streams = [
      streamName('org.created', 'crm'),
      streamName('org.created', 'hr'),
      streamName('credit.allocated', 'hr'),
    ];
    // The streams live on more than one node: each script needed its own node's clock.
    const owners = await Promise.all(
      streams.map(async (s) => redis.slots[Number(await redis.cluster('KEYSLOT', s))]?.[0]),
    );
    expect(new Set(owners).size).toBeGreaterThan(1);
    expect(await Promise.all(streams.map((s) => redis.xlen(s)))).toEqual([10, 10, 10]);
  });
});
