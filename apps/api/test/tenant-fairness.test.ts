/**
 * One tenant cannot stall the others: a run throttled to 1 event/s on every partition, or a run
 * split into many partitions, holds no worker slot another tenant's small sync needs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ApiTestContext,
  createApiTestContext,
  runStatus,
  startMembershipsSync,
} from './helpers';

describe('fair share between tenants', () => {
  let t: ApiTestContext;
  beforeAll(async () => {
    t = await createApiTestContext('tenant_fairness');
    t.startWorkers(); // two slots per queue, as one worker process has by default
  });
  afterAll(async () => {
    await t.close();
  });

  const status = (runId: string) => runStatus(t, runId);

  it("a throttled run's partitions do not keep another tenant's small sync waiting", async () => {
    const noisy = await startMembershipsSync(t, 'throttled', 3_000, {
      maxEventsPerSecond: 1,
      pageSize: 10_000,
      partitions: 4,
    });
    await expect.poll(() => status(noisy.runId), { timeout: 20_000 }).toBe('running');
    const small = await startMembershipsSync(t, 'small-after-throttled', 200);
    const startedAt = Date.now();
    expect((await t.waitForRun(small.runId, ['completed', 'failed'], 20_000)).status).toBe(
      'completed',
    );
    const tookMs = Date.now() - startedAt;
    expect(await status(noisy.runId)).toBe('running');
    expect(tookMs).toBeLessThan(15_000);
  });

  it("a run of many partitions lets another tenant's sync through", async () => {
    const noisy = await startMembershipsSync(t, 'partitioned', 20_000, {
      pageSize: 50,
      partitions: 64,
      maxEventsPerSecond: 2_000,
    });
    await expect.poll(() => status(noisy.runId), { timeout: 20_000 }).toBe('running');
    const small = await startMembershipsSync(t, 'small-after-partitioned', 200);
    expect((await t.waitForRun(small.runId, ['completed', 'failed'], 20_000)).status).toBe(
      'completed',
    );
    expect(await status(noisy.runId)).toBe('running');
  });
});
