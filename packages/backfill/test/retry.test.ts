/**
 * A run whose two partitions both fail: retrying one leaves the run failed (the other is still
 * failed); retrying the second completes it, every row published exactly once.
 */
import { HISTORICAL_EVENT_TYPE, resourceJobId, streamName } from '@historical-sync/contracts';
import { seedTenant } from '@historical-sync/db';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getRun } from '../src/index';
import { type BackfillTestContext, createBackfillTestContext } from '../src/testing';

describe('retrying a run with several failed jobs', () => {
  let t: BackfillTestContext;
  beforeAll(async () => {
    t = await createBackfillTestContext('retry', { pageSize: 20 });
    t.startWorkers();
  });
  afterAll(async () => {
    await t.close();
  });

  it('completes only once every failed job is retried, exactly once', async () => {
    const organizations = 300;
    const { tenantId } = await seedTenant(t.db, {
      tenantName: 'retry',
      organizations,
      memberships: 0,
      creditAllocations: 0,
      app: 'crm',
      seed: 21,
    });
    // One invalid row (empty name) in each half of the id space: one per partition.
    const bad = await sql<{ id: string }>`
      (SELECT id FROM entities WHERE tenant_id = ${tenantId} AND id < '80000000-0000-0000-0000-000000000000' ORDER BY id DESC LIMIT 1)
      UNION ALL
      (SELECT id FROM entities WHERE tenant_id = ${tenantId} AND id >= '80000000-0000-0000-0000-000000000000' ORDER BY id DESC LIMIT 1)
    `.execute(t.db);
    const badIds = bad.rows.map((r) => r.id);
    await t.db.updateTable('entities').set({ name: '' }).where('id', 'in', badIds).execute();

    const run = await t.enableAndEnqueue(tenantId, { pageSize: 20, partitions: 2 });
    const jobs = [0, 1].map((p) => resourceJobId(run.id, 'organizations', p, 2));
    const failedJob = (id: string) => t.queues.resources.organizations.getJob(id);
    await expect
      .poll(
        async () => Promise.all(jobs.map(async (id) => (await failedJob(id))?.failedReason ?? '')),
        { timeout: 15_000 },
      )
      .toEqual([expect.stringContaining('name'), expect.stringContaining('name')]);
    // The worker records the run's failure after BullMQ has marked the job failed.
    await expect
      .poll(async () => (await getRun(t.db, run.id))?.status, { timeout: 5_000 })
      .toBe('failed');

    await t.db.updateTable('entities').set({ name: 'Fixed' }).where('id', 'in', badIds).execute();
    await (await failedJob(jobs[0] as string))?.retry();
    await expect
      .poll(
        async () =>
          (await failedJob(jobs[0] as string))?.finishedOn &&
          (await (await failedJob(jobs[0] as string))?.getState()),
        { timeout: 15_000 },
      )
      .toBe('completed');
    // The other partition is still failed: so is the run.
    expect((await getRun(t.db, run.id))?.status).toBe('failed');

    await (await failedJob(jobs[1] as string))?.retry();
    expect((await t.waitForRun(run.id, ['completed'], 15_000)).status).toBe('completed');
    const events = await t.readEvents(
      streamName(HISTORICAL_EVENT_TYPE.organizations, 'crm', t.settings.streamPrefix),
    );
    expect(events).toHaveLength(organizations);
    expect(new Set(events.map((e) => e.eventId)).size).toBe(organizations);
  });
});
