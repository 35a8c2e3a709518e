import { type SyncEvent, subjectIdOf } from '@historical-sync/contracts';
import { seedTenant } from '@historical-sync/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiTestContext, auth, createApiTestContext } from './helpers';

describe('POST .../applications/:appCode/sync-historical', () => {
  let t: ApiTestContext;
  let tenantId: string;

  beforeAll(async () => {
    t = await createApiTestContext('sync_historical');
    t.startWorkers();
    ({ tenantId } = await seedTenant(t.db, {
      tenantName: 'sync',
      organizations: 20,
      memberships: 250,
      creditAllocations: 30,
      app: 'crm',
      seed: 3,
    }));
    // Enabled without the automatic run, so each test controls its own runs.
    const enabled = await t.app.inject({
      method: 'POST',
      url: `/admin/organizations/${tenantId}/applications/crm/toggle`,
      headers: auth,
      payload: { isEnabled: true, skipHistoricalSync: true },
    });
    expect(enabled.json().runId).toBeNull();
    // skipHistoricalSync: no run, no job, so nothing can publish.
    expect(await t.db.selectFrom('backfill_runs').selectAll().execute()).toHaveLength(0);
    for (const queue of t.queues.all()) {
      expect(Object.values(await queue.getJobCounts()).every((n) => n === 0)).toBe(true);
    }
    expect(await t.redis.exists(...Object.values(t.streams('crm')))).toBe(0);
  });
  afterAll(async () => {
    await t.close();
  });

  const sync = (payload: object, app = 'crm', tenant = tenantId) =>
    t.app.inject({
      method: 'POST',
      url: `/admin/organizations/${tenant}/applications/${app}/sync-historical`,
      headers: auth,
      payload,
    });
  const eventsOfRun = async (runId: string) => {
    const streams = t.streams('crm');
    const read = async (stream: string) =>
      (await t.readEvents(stream)).filter((e: SyncEvent) => e.runId === runId);
    return {
      credits: await read(streams.credits),
      organizations: await read(streams.organizations),
      memberships: await read(streams.memberships),
    };
  };
  const ids = (events: SyncEvent[]) => events.map(subjectIdOf).sort();

  it('answers 409 when the application is not enabled for the tenant', async () => {
    const response = await sync({}, 'hr');
    expect(response.statusCode).toBe(409);
    expect(response.json()).toMatchObject({
      error: 'conflict',
      message: expect.stringContaining('hr'),
    });
    expect(await t.db.selectFrom('backfill_runs').selectAll().execute()).toHaveLength(0);
  });

  it('dry run publishes nothing and its counts equal what the real sync then publishes, with sinceDate', async () => {
    const since = '2024-07-01T00:00:00Z';
    const before = await t.redis.exists(...Object.values(t.streams('crm')));
    const dry = await sync({ dryRun: true, sinceDate: since });
    expect(dry.statusCode).toBe(200);
    expect(await t.redis.exists(...Object.values(t.streams('crm')))).toBe(before);
    expect(await t.db.selectFrom('backfill_runs').selectAll().execute()).toHaveLength(0);

    // The rows that sinceDate must select, straight from the tables.
    const sinceDate = new Date(since);
    const expected = {
      credits: await t.db
        .selectFrom('credit_allocations')
        .select('id')
        .where('tenant_id', '=', tenantId)
        .where('target_application', '=', 'crm')
        .where('is_active', '=', true)
        .where('allocated_at', '>=', sinceDate)
        .execute(),
      organizations: await t.db
        .selectFrom('entities')
        .select('id')
        .where('tenant_id', '=', tenantId)
        .where('entity_type', '=', 'organization')
        .where('created_at', '>=', sinceDate)
        .execute(),
      memberships: await t.db
        .selectFrom('organization_memberships')
        .select('id')
        .where('tenant_id', '=', tenantId)
        .where('is_active', '=', true)
        .where('created_at', '>=', sinceDate)
        .execute(),
    };
    // Half a year of evenly spread rows: a real filter, neither everything nor nothing.
    expect(expected.memberships.length).toBeGreaterThan(100);
    expect(expected.memberships.length).toBeLessThan(150);
    expect(dry.json()).toEqual({
      dryRun: true,
      appCode: 'crm',
      sinceDate: '2024-07-01T00:00:00.000Z',
      counts: {
        credits: expected.credits.length,
        organizations: expected.organizations.length,
        memberships: expected.memberships.length,
      },
      total: expected.credits.length + expected.organizations.length + expected.memberships.length,
    });

    const real = await sync({ sinceDate: since });
    expect(real.statusCode).toBe(202);
    expect(real.json()).toMatchObject({ created: true, status: 'queued' });
    expect(real.json().statusUrl).toBe(
      `/admin/organizations/${tenantId}/sync-runs/${real.json().runId}`,
    );
    await t.waitForRun(real.json().runId, ['completed']);

    const published = await eventsOfRun(real.json().runId);
    expect(ids(published.credits)).toEqual(expected.credits.map((r) => r.id).sort());
    expect(ids(published.organizations)).toEqual(expected.organizations.map((r) => r.id).sort());
    expect(ids(published.memberships)).toEqual(expected.memberships.map((r) => r.id).sort());

    const runView = await t.app.inject({
      method: 'GET',
      url: real.json().statusUrl,
      headers: auth,
    });
    expect(runView.json()).toMatchObject({
      status: 'completed',
      sinceDate: '2024-07-01T00:00:00.000Z',
      trigger: 'manual',
      published: dry.json().total,
      total: dry.json().total,
    });
  });

  it('publishes only the selected resources', async () => {
    const response = await sync({
      syncCredits: false,
      syncOrganizations: true,
      syncAssignments: false,
    });
    const runId = response.json().runId;
    await t.waitForRun(runId, ['completed']);
    const published = await eventsOfRun(runId);
    expect(published.credits).toHaveLength(0);
    expect(published.memberships).toHaveLength(0);
    expect(published.organizations).toHaveLength(20);

    const credits = await sync({
      syncCredits: true,
      syncOrganizations: false,
      syncAssignments: false,
    });
    await t.waitForRun(credits.json().runId, ['completed']);
    const creditEvents = await eventsOfRun(credits.json().runId);
    expect(creditEvents.credits).toHaveLength(30);
    expect(creditEvents.organizations).toHaveLength(0);
  });

  it('answers the active run instead of starting a second one', async () => {
    // Paused queues keep the run active while the second request arrives.
    await Promise.all(t.queues.all().map((q) => q.pause()));
    try {
      const [a, b] = await Promise.all([sync({}), sync({})]);
      expect([a.statusCode, b.statusCode].sort()).toEqual([200, 202]);
      expect(a.json().runId).toBe(b.json().runId);
      const again = await sync({ syncCredits: false });
      expect(again.statusCode).toBe(200);
      expect(again.json()).toMatchObject({ runId: a.json().runId, created: false });
    } finally {
      await Promise.all(t.queues.all().map((q) => q.resume()));
    }
  });
});
