/**
 * "Sync needed" says the application is behind: enabled, and no run since its latest enablement
 * has completed or is under way. A re-sync cancelled after the enable's backfill completed leaves
 * it in sync (the console's application page and tenant list, and the spec's sync-status, agree);
 * an enable whose own backfill was cancelled leaves it behind.
 */
import { RESOURCES } from '@historical-sync/contracts';
import { seedTenant } from '@historical-sync/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getSyncStatus } from '../src/read-models/status';
import { tenantApplications } from '../src/read-models/tenant-directory';
import { controlRun } from '../src/runs/controls';
import { toggleApplication } from '../src/runs/enablement';
import { requestSync } from '../src/runs/sync';
import { type BackfillTestContext, createBackfillTestContext } from '../src/testing';

describe('sync needed', () => {
  let t: BackfillTestContext;
  beforeAll(async () => {
    t = await createBackfillTestContext('sync_needed', { pageSize: 20 });
    t.startWorkers();
  });
  afterAll(async () => {
    await t.close();
  });

  const seed = (tenantName: string, seed: number) =>
    seedTenant(t.db, {
      tenantName,
      organizations: 10,
      memberships: 20,
      creditAllocations: 5,
      app: 'crm',
      seed,
    });
  /** What the tenant list / application page and sync-status say, in that order. */
  const syncNeeded = async (tenantId: string) => {
    const tenant = await tenantApplications(t.db, tenantId);
    const crm = tenant.applications.find((a) => a.code === 'crm');
    return [crm?.syncNeeded, (await getSyncStatus(t.db, tenantId, 'crm')).syncNeeded];
  };
  /** A manual re-sync of every resource, cancelled before it starts. */
  const cancelledResync = async (tenantId: string) => {
    const sync = await requestSync(t.db, {
      tenantId,
      application: 'crm',
      resources: RESOURCES,
      sinceDate: null,
      dryRun: false,
      pageSize: 20,
    });
    if (sync.dryRun) throw new Error('a dry run answered a real sync');
    const cancelled = await controlRun(t.db, t.barrier, tenantId, sync.run.id, 'cancel');
    expect(cancelled.status).toBe('cancelled');
  };

  it('is not needed after a cancelled re-sync when the enable backfill completed', async () => {
    const { tenantId } = await seed('resync-cancelled', 21);
    const run = await t.enableAndEnqueue(tenantId);
    expect((await t.waitForRun(run.id)).status).toBe('completed');
    expect(await syncNeeded(tenantId)).toEqual([false, false]);

    await cancelledResync(tenantId);
    // The latest run is the cancelled one; the application still holds every row.
    const { applications } = await tenantApplications(t.db, tenantId);
    expect(applications.find((a) => a.code === 'crm')?.latestRun?.status).toBe('cancelled');
    expect(await syncNeeded(tenantId)).toEqual([false, false]);
  });

  it('is needed when the enable backfill itself was cancelled', async () => {
    const { tenantId } = await seed('enable-cancelled', 22);
    // Enabled, its run not handed to the workers: cancelled before it publishes anything.
    const { run } = await toggleApplication(t.db, t.barrier, {
      tenantId,
      application: 'crm',
      isEnabled: true,
      skipHistoricalSync: false,
      pageSize: 20,
    });
    if (!run) throw new Error('the enable started no run');
    expect(await syncNeeded(tenantId)).toEqual([false, false]);
    await controlRun(t.db, t.barrier, tenantId, run.id, 'cancel');
    expect(await syncNeeded(tenantId)).toEqual([true, true]);
    // A cancelled re-sync does not cover it either.
    await cancelledResync(tenantId);
    expect(await syncNeeded(tenantId)).toEqual([true, true]);
  });
});
