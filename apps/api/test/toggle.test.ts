import { seedTenant } from '@historical-sync/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiTestContext, auth, createApiTestContext } from './helpers';

describe('POST .../applications/:appId/toggle', () => {
  let t: ApiTestContext;
  beforeAll(async () => {
    t = await createApiTestContext('toggle');
  });
  afterAll(async () => {
    await t.close();
  });

  const seed = (tenantName: string) =>
    seedTenant(t.db, {
      tenantName,
      organizations: 2,
      memberships: 3,
      creditAllocations: 1,
      app: 'crm',
      seed: 1,
    });
  const toggle = (tenantId: string, app: string, payload: object) =>
    t.app.inject({
      method: 'POST',
      url: `/admin/organizations/${tenantId}/applications/${app}/toggle`,
      headers: auth,
      payload,
    });
  const runsOf = (tenantId: string) =>
    t.db.selectFrom('backfill_runs').selectAll().where('tenant_id', '=', tenantId).execute();

  it('starts one run for an enable, and nothing for a second enable', async () => {
    const { tenantId } = await seed('twice');
    const first = await toggle(tenantId, 'crm', { isEnabled: true });
    const second = await toggle(tenantId, 'crm', { isEnabled: true });
    expect(first.json()).toMatchObject({ changed: true, isEnabled: true });
    expect(first.json().runId).toBeTruthy();
    expect(second.json()).toMatchObject({ changed: false, isEnabled: true, runId: null });
    expect(await runsOf(tenantId)).toHaveLength(1);
    // Exactly one job for the run, with the run id as its job id.
    await expect.poll(() => t.queues.runs.getJob(first.json().runId)).toBeTruthy();
    expect(await t.queues.runs.getJobState(first.json().runId)).toBe('waiting-children');
    expect(await t.queues.resources.memberships.getJobCounts('waiting')).toEqual({ waiting: 1 });
  });

  it('starts one run when enables race each other', async () => {
    const { tenantId } = await seed('race');
    const responses = await Promise.all(
      Array.from({ length: 8 }, () => toggle(tenantId, 'crm', { isEnabled: true })),
    );
    expect(responses.map((r) => r.statusCode)).toEqual(Array(8).fill(200));
    expect(responses.filter((r) => r.json().changed)).toHaveLength(1);
    expect(await runsOf(tenantId)).toHaveLength(1);
  });

  it('accepts the application id as well as its code', async () => {
    const { tenantId } = await seed('by-id');
    const hr = await t.db
      .selectFrom('applications')
      .select('id')
      .where('code', '=', 'hr')
      .executeTakeFirstOrThrow();
    const response = await toggle(tenantId, hr.id, { isEnabled: true });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({
      application: { id: hr.id, code: 'hr' },
      isEnabled: true,
    });
  });

  it('records the enablement without a run when skipHistoricalSync is true', async () => {
    const { tenantId } = await seed('skip');
    const response = await toggle(tenantId, 'crm', { isEnabled: true, skipHistoricalSync: true });
    expect(response.json()).toMatchObject({ changed: true, isEnabled: true, runId: null });
    expect(await runsOf(tenantId)).toHaveLength(0);
    const status = await t.app.inject({
      method: 'GET',
      url: `/admin/organizations/${tenantId}/applications/crm/sync-status`,
      headers: auth,
    });
    expect(status.json()).toMatchObject({ isEnabled: true, syncNeeded: true, latestRun: null });
  });

  it('cancels the active run on disable and starts a new one on re-enable', async () => {
    const { tenantId } = await seed('reenable');
    const enabled = await toggle(tenantId, 'crm', { isEnabled: true });
    const disabled = await toggle(tenantId, 'crm', { isEnabled: false });
    expect(disabled.json()).toMatchObject({ changed: true, isEnabled: false, runId: null });
    expect(disabled.json().disabledAt).toBeTruthy();
    const reenabled = await toggle(tenantId, 'crm', { isEnabled: true });
    expect(reenabled.json().runId).toBeTruthy();
    expect(reenabled.json().runId).not.toBe(enabled.json().runId);
    const runs = await runsOf(tenantId);
    const statusOf = (id: string) => runs.find((r) => r.id === id)?.status;
    expect(statusOf(enabled.json().runId)).toBe('cancelled');
    expect(statusOf(reenabled.json().runId)).toBe('queued');
  });

  it('keeps the enablement and the queued run when the queue is unreachable, and the sweeper enqueues it later', async () => {
    const { BackfillQueues, sweepRuns } = await import('@historical-sync/backfill');
    const { Redis } = await import('ioredis');
    const { buildApp } = await import('../src/app');
    // A Redis that refuses connections: every enqueue fails.
    const down = new Redis('redis://127.0.0.1:1', {
      maxRetriesPerRequest: 0,
      lazyConnect: true,
      retryStrategy: () => null,
    });
    down.on('error', () => {}); // expected: nothing listens there
    const brokenQueues = new BackfillQueues(down, t.settings.queuePrefix);
    for (const queue of brokenQueues.all()) queue.on('error', () => {});
    const app = await buildApp({
      db: t.db,
      redis: down,
      queues: brokenQueues,
      settings: t.settings,
      logger: t.logger,
      adminApiKey: auth.authorization.slice('Bearer '.length),
      bodyLimitBytes: 64 * 1024,
      // On: the rate limiter must not need Redis.
      rateLimitPerMinute: 100,
      apiKeyCacheMs: 0,
      failedAuthPerMinute: 0,
    });
    try {
      const { tenantId } = await seed('queue-down');
      const response = await app.inject({
        method: 'POST',
        url: `/admin/organizations/${tenantId}/applications/crm/toggle`,
        headers: auth,
        payload: { isEnabled: true },
      });
      expect(response.statusCode).toBe(200);
      const runId = response.json().runId;
      expect((await runsOf(tenantId))[0]).toMatchObject({ id: runId, status: 'queued' });
      expect(await t.queues.runs.getJob(runId)).toBeUndefined();

      expect(await sweepRuns(t.db, t.queues, 0)).toBeGreaterThanOrEqual(1);
      expect(await t.queues.runs.getJob(runId)).toBeDefined();
      // Sweeping again finds the job and adds nothing.
      const again = await sweepRuns(t.db, t.queues, 0);
      expect(await t.queues.resources.credits.getJob(`${runId}-credits`)).toBeDefined();
      expect(again).toBe(0);
    } finally {
      await app.close();
      await brokenQueues.close();
      down.disconnect();
    }
  });
});
