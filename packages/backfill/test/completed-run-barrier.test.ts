/**
 * A completed run closes its barrier. A worker that stalled past its lock and follows its
 * successor holds a page whose checkpoint is the one its successor left (the page is not stale),
 * so only the run's control keys can stop it: once the run reads completed, they say so, and the
 * page is refused.
 */
import { HISTORICAL_EVENT_TYPE, RESOURCES, streamName } from '@historical-sync/contracts';
import { seedTenant } from '@historical-sync/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkpointKey, controlKey, publishPage, readCheckpoint } from '../src/publish/publisher';
import { type BackfillTestContext, createBackfillTestContext, pageCommands } from '../src/testing';

describe('a completed run', () => {
  let t: BackfillTestContext;
  beforeAll(async () => {
    t = await createBackfillTestContext('completed_barrier', { pageSize: 10 });
    t.startWorkers();
  });
  afterAll(async () => {
    await t.close();
  });

  it('closes its control keys, so a late page of it is refused', async () => {
    const { tenantId } = await seedTenant(t.db, {
      tenantName: 'completed-barrier',
      organizations: 8,
      memberships: 30,
      creditAllocations: 5,
      app: 'crm',
      seed: 9,
    });
    const run = await t.enableAndEnqueue(tenantId, { pageSize: 10 });
    expect((await t.waitForRun(run.id, ['completed', 'failed', 'cancelled'])).status).toBe(
      'completed',
    );

    for (const resource of RESOURCES) {
      const stream = streamName(HISTORICAL_EVENT_TYPE[resource], 'crm', t.settings.streamPrefix);
      expect(await t.redis.hget(controlKey(stream, run.id), 'state'), resource).toBe('cancelled');

      // The page a stalled worker would offer now: after the checkpoint as it stands.
      const key = checkpointKey(stream, run.id, resource);
      const { cursor } = await readCheckpoint(t.redis, key);
      const length = await t.redis.xlen(stream);
      const late = await publishPage(t.redis, {
        runId: run.id,
        checkpointKey: key,
        stream,
        expectedCursor: cursor,
        nextCursor: `${cursor}-late`,
        ...pageCommands(stream, [JSON.stringify({ late: true })]),
      });
      expect(late.outcome, resource).toBe('stopped');
      expect(await t.redis.xlen(stream), resource).toBe(length);
    }
  });
});
