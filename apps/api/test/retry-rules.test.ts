/**
 * A retried run is active again, so a retry answers to what an enable answers to: never beside
 * another active run of the application (409 naming it, where the unique index once made it a
 * 500), and within a tenant key's active-runs quota. A run whose application was disabled cannot
 * be retried: the disable cancelled it (disable-failed-run.test.ts).
 */
import { seedTenant } from '@historical-sync/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ApiTestContext,
  auth,
  createApiTestContext,
  createTenantKey,
  runStatus,
} from './helpers';

describe('retry of a failed run', () => {
  let t: ApiTestContext;
  beforeAll(async () => {
    t = await createApiTestContext('retry_rules', { tenantQuotas: { maxActiveRuns: 1 } });
    t.startWorkers();
  });
  afterAll(async () => {
    await t.close();
  });

  const post = (url: string, payload: object = {}, headers: Record<string, string> = auth) =>
    t.app.inject({ method: 'POST', url, headers, payload });

  /** A tenant whose crm run failed on an organization with no name (fixed again afterwards). */
  async function tenantWithFailedRun(tenantName: string) {
    const { tenantId } = await seedTenant(t.db, {
      tenantName,
      organizations: 20,
      memberships: 400,
      creditAllocations: 0,
      app: 'crm',
      seed: 7,
    });
    const bad = await t.db
      .selectFrom('entities')
      .select('id')
      .where('tenant_id', '=', tenantId)
      .where('entity_type', '=', 'organization')
      .limit(1)
      .executeTakeFirstOrThrow();
    await t.db.updateTable('entities').set({ name: '' }).where('id', '=', bad.id).execute();
    const enabled = await post(`/admin/organizations/${tenantId}/applications/crm/toggle`, {
      isEnabled: true,
      skipHistoricalSync: false,
    });
    const runId = enabled.json().runId as string;
    expect((await t.waitForRun(runId, ['failed', 'completed'], 30_000)).status).toBe('failed');
    await t.db.updateTable('entities').set({ name: 'Fixed' }).where('id', '=', bad.id).execute();
    return { tenantId, runId };
  }

  it('answers 409 naming the active run while another run of the application is active', async () => {
    const { tenantId, runId } = await tenantWithFailedRun('retry-beside-active');
    // A failed run holds no slot: a manual sync starts another run, kept busy by a rate cap.
    const started = await post(
      `/admin/organizations/${tenantId}/applications/crm/sync-historical`,
      { syncCredits: false, syncOrganizations: false, maxEventsPerSecond: 20 },
    );
    expect(started.statusCode, started.body).toBe(202);
    const activeId = started.json().runId as string;

    const refused = await post(`/admin/organizations/${tenantId}/sync-runs/${runId}/retry`);
    expect(refused.statusCode, refused.body).toBe(409);
    expect(refused.json().message).toContain(activeId);
    expect(await runStatus(t, runId)).toBe('failed');

    // Once the other run ended, the retry goes through and the run completes.
    expect(
      (await post(`/admin/organizations/${tenantId}/sync-runs/${activeId}/cancel`)).statusCode,
    ).toBe(200);
    const retried = await post(`/admin/organizations/${tenantId}/sync-runs/${runId}/retry`);
    expect(retried.statusCode, retried.body).toBe(202);
    expect((await t.waitForRun(runId, ['completed'], 30_000)).status).toBe('completed');
  });

  it("refuses a tenant key's retry past TENANT_MAX_ACTIVE_RUNS; an admin key's passes", async () => {
    const { tenantId, runId } = await tenantWithFailedRun('retry-past-quota');
    const key = await createTenantKey(t, tenantId);
    // The tenant's one active run, on another application.
    await post(`/admin/organizations/${tenantId}/applications/hr/toggle`, {
      isEnabled: true,
      skipHistoricalSync: true,
    });
    const other = await post(`/admin/organizations/${tenantId}/applications/hr/sync-historical`, {
      maxEventsPerSecond: 20,
    });
    expect(other.statusCode, other.body).toBe(202);

    const refused = await post(
      `/admin/organizations/${tenantId}/sync-runs/${runId}/retry`,
      {},
      {
        authorization: `Bearer ${key}`,
      },
    );
    expect(refused.statusCode, refused.body).toBe(409);
    expect(refused.json().message).toContain('TENANT_MAX_ACTIVE_RUNS');
    expect(await runStatus(t, runId)).toBe('failed');

    const admin = await post(`/admin/organizations/${tenantId}/sync-runs/${runId}/retry`);
    expect(admin.statusCode, admin.body).toBe(202);
    expect((await t.waitForRun(runId, ['completed'], 30_000)).status).toBe('completed');
  });
});
