/**
 * Three worker processes on one large run with partitioned resources: the work is shared (every
 * process publishes pages) and every row is published exactly once.
 */
import {
  type BackfillTestContext,
  createBackfillTestContext,
} from '@historical-sync/backfill/testing';
import { HISTORICAL_EVENT_TYPE, type Resource, streamName } from '@historical-sync/contracts';
import { seedTenant } from '@historical-sync/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killWorker, spawnWorker, type WorkerProcess } from './worker-process';

describe('three workers on one run', () => {
  let t: BackfillTestContext;
  const workers: WorkerProcess[] = [];
  beforeAll(async () => {
    t = await createBackfillTestContext('many_workers', { pageSize: 100 });
  });
  afterAll(async () => {
    await Promise.all(workers.map(killWorker));
    await t.close();
  });

  it('share the work and publish every row exactly once', async () => {
    const rows = { organizations: 3_000, memberships: 30_000, creditAllocations: 3_000 };
    const { tenantId } = await seedTenant(t.db, {
      tenantName: 'many',
      app: 'crm',
      seed: 12,
      ...rows,
    });
    for (let i = 0; i < 3; i++)
      workers.push(
        spawnWorker({ ...t.env, WORKER_ROLES: 'runs,credits,organizations,memberships' }),
      );
    for (const worker of workers) {
      await expect.poll(() => worker.output(), { timeout: 30_000 }).toMatch(/worker started/);
    }
    const run = await t.enableAndEnqueue(tenantId, { pageSize: 100, partitions: 6 });
    const finished = await t.waitForRun(run.id, ['completed', 'failed'], 120_000);
    expect(finished.status).toBe('completed');

    const expected: Record<Resource, number> = {
      credits: rows.creditAllocations,
      organizations: rows.organizations,
      memberships: rows.memberships,
    };
    for (const resource of Object.keys(expected) as Resource[]) {
      const events = await t.readEvents(
        streamName(HISTORICAL_EVENT_TYPE[resource], 'crm', t.settings.streamPrefix),
      );
      expect(events).toHaveLength(expected[resource]);
      expect(new Set(events.map((e) => e.eventId)).size).toBe(expected[resource]);
    }
    expect(finished.resources.map((r) => [r.resource, r.status, r.published, r.total])).toEqual([
      ['credits', 'completed', rows.creditAllocations, rows.creditAllocations],
      ['memberships', 'completed', rows.memberships, rows.memberships],
      ['organizations', 'completed', rows.organizations, rows.organizations],
    ]);
    // Each process finished some of the 18 partition jobs.
    for (const worker of workers) {
      expect(
        worker.output().match(/(credits|organizations|memberships) published/g)?.length ?? 0,
      ).toBeGreaterThan(0);
    }
    for (const worker of workers) worker.child.kill('SIGTERM');
    for (const worker of workers) expect((await worker.exited).code).toBe(0);
  });
});
