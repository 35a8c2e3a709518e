/**
 * The Postgres mirror of a checkpoint (what the status endpoint shows) never moves back. A worker
 * frozen past its lock (GC pause, SIGSTOP, a starved VM) resumes with the count it held before its
 * job was retaken and finished by another; its late progress report must not undo the successor's.
 * test/faults.test.ts shows it end to end with a real SIGSTOP; this pins the rule itself.
 */
import { seedTenant } from '@historical-sync/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getRun, toggleApplication } from '../src/index';
import { finishPartition, recordPartitionProgress, startPartition } from '../src/runs/run-state';
import { type BackfillTestContext, createBackfillTestContext } from '../src/testing';

describe('progress mirror', () => {
  let t: BackfillTestContext;
  beforeAll(async () => {
    t = await createBackfillTestContext('progress_mirror');
  });
  afterAll(async () => {
    await t.close();
  });

  it("ignores a stalled worker's late, lower count after its successor finished", async () => {
    const { tenantId } = await seedTenant(t.db, {
      tenantName: 'mirror',
      organizations: 1,
      memberships: 0,
      creditAllocations: 0,
      app: 'crm',
      seed: 5,
    });
    const { run } = await toggleApplication(t.db, t.barrier, {
      tenantId,
      application: 'crm',
      isEnabled: true,
      skipHistoricalSync: false,
      pageSize: 100,
    });
    if (!run) throw new Error('expected a run');
    const ref = { runId: run.id, resource: 'organizations' as const, partition: 0 };
    await startPartition(t.db, ref, 2_000);
    // The first worker reported 1300 and froze; its successor published the rest and finished.
    await recordPartitionProgress(t.db, ref, 1_300);
    await finishPartition(t.db, ref, 'complete', { published: 2_000 });
    // The first worker thaws and reports what it held.
    await recordPartitionProgress(t.db, ref, 1_300);

    const resource = (await getRun(t.db, run.id))?.resources.find(
      (r) => r.resource === 'organizations',
    );
    expect(resource).toMatchObject({ status: 'completed', published: 2_000, total: 2_000 });
  });

  it("ignores a stalled worker's late, lower count when it ends the partition too", async () => {
    const { tenantId } = await seedTenant(t.db, {
      tenantName: 'mirror-end',
      organizations: 1,
      memberships: 0,
      creditAllocations: 0,
      app: 'crm',
      seed: 6,
    });
    const run = (
      await toggleApplication(t.db, t.barrier, {
        tenantId,
        application: 'crm',
        isEnabled: true,
        skipHistoricalSync: false,
        pageSize: 100,
      })
    ).run;
    if (!run) throw new Error('expected a run');
    const ref = { runId: run.id, resource: 'organizations' as const, partition: 0 };
    await startPartition(t.db, ref, 2_000);
    await finishPartition(t.db, ref, 'complete', { published: 2_000 });
    // The frozen worker thaws, finds nothing left to publish past its own checkpoint read, and
    // ends the partition again (complete applies from completed) with the count it held.
    expect(await finishPartition(t.db, ref, 'complete', { published: 1_300 })).toBe(true);

    const resource = (await getRun(t.db, run.id))?.resources.find(
      (r) => r.resource === 'organizations',
    );
    expect(resource).toMatchObject({ status: 'completed', published: 2_000 });
  });
});
