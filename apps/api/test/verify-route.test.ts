/**
 * The verify route's edges (the comparison itself is test/verify.test.ts, with the real CRM): an
 * application that does not answer makes a failed verification, recorded and answered; one
 * verification per tenant at a time (so one tenant cannot hold every slot of a process); a tenant key verifies its own tenant only, within
 * TENANT_MAX_VERIFICATIONS_PER_HOUR. A repair starts a run of exactly the differing rows, never
 * beside another run of the application, and a tenant key's within its run quotas; what it could
 * not do is reported, with nothing created.
 */
import { randomUUID } from 'node:crypto';
import { pruneVerifications } from '@historical-sync/backfill';
import { startVerifyResponder, type VerifyResponder } from '@historical-sync/consumer';
import { verifyRequestStream } from '@historical-sync/contracts';
import { seedTenant } from '@historical-sync/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiTestContext, auth, createApiTestContext, createTenantKey } from './helpers';

describe('POST …/verify', () => {
  let t: ApiTestContext;
  beforeAll(async () => {
    t = await createApiTestContext('verify_route', {
      tenantQuotas: { maxVerificationsPerHour: 2 },
      verifyAnswerTimeoutMs: 1_500,
    });
  });
  afterAll(async () => {
    await t.close();
  });

  const tenant = async (name: string) =>
    (
      await seedTenant(t.db, {
        tenantName: name,
        organizations: 3,
        memberships: 5,
        creditAllocations: 1,
        app: 'crm',
        seed: 8,
      })
    ).tenantId;
  const verify = (tenantId: string, headers: Record<string, string> = auth, app = 'crm') =>
    t.app.inject({
      method: 'POST',
      url: `/admin/organizations/${tenantId}/applications/${app}/verify`,
      headers,
      payload: {},
    });

  it('records and answers a failed verification when the application does not answer', async () => {
    const tenantId = await tenant('no-responder');
    const answer = await verify(tenantId);
    expect(answer.statusCode, answer.body).toBe(200);
    expect(answer.json()).toMatchObject({
      status: 'failed',
      error: expect.stringContaining('verify responder'),
    });
    const latest = await t.app.inject({
      method: 'GET',
      url: `/admin/organizations/${tenantId}/applications/crm/verifications/latest`,
      headers: auth,
    });
    expect(latest.statusCode).toBe(200);
    expect(latest.json().verificationId).toBe(answer.json().verificationId);
    expect((await verify(tenantId, auth, 'nosuchapp')).statusCode).toBe(404);
  });

  it('records and answers a failed verification when Redis refuses the request', async () => {
    const tenantId = await tenant('redis-refuses');
    // A key of another type where the request stream belongs: Redis refuses the XADD, as it
    // would out of memory or on a read-only replica.
    const stream = verifyRequestStream('crm', t.settings.streamPrefix);
    await t.redis.set(stream, 'not a stream');
    try {
      const answer = await verify(tenantId);
      expect(answer.statusCode, answer.body).toBe(200);
      expect(answer.json()).toMatchObject({
        status: 'failed',
        error: expect.stringContaining('could not carry a verification request'),
      });
    } finally {
      await t.redis.del(stream);
    }
  });

  it('runs one verification per tenant at a time, whichever the application', async () => {
    const tenantId = await tenant('one-at-a-time');
    const [first, second] = await Promise.all([verify(tenantId), verify(tenantId, auth, 'hr')]);
    expect([first.statusCode, second.statusCode].sort()).toEqual([200, 409]);
    const refused = first.statusCode === 409 ? first : second;
    expect(refused.json().message).toContain('running');
  });

  it('keeps a tenant key to its own tenant and to TENANT_MAX_VERIFICATIONS_PER_HOUR', async () => {
    const own = await tenant('quota-own');
    const other = await tenant('quota-other');
    const key = { authorization: `Bearer ${await createTenantKey(t, own)}` };
    expect((await verify(other, key)).statusCode).toBe(404);
    expect((await verify(own, key)).statusCode).toBe(200);
    expect((await verify(own, key)).statusCode).toBe(200);
    const refused = await verify(own, key);
    expect(refused.statusCode).toBe(429);
    expect(refused.json().message).toContain('TENANT_MAX_VERIFICATIONS_PER_HOUR');
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
    // An admin key is not held to it.
    expect((await verify(own)).statusCode).toBe(200);
  });

  it("keeps a month of verifications, and each application's latest whatever its age", async () => {
    const tenantId = await tenant('prune');
    const crm = await t.db
      .selectFrom('applications')
      .select('id')
      .where('code', '=', 'crm')
      .executeTakeFirstOrThrow();
    const daysAgo = (days: number) => new Date(Date.now() - days * 86_400_000);
    for (const days of [50, 45, 40]) {
      await t.db
        .insertInto('verifications')
        .values({
          tenant_id: tenantId,
          application_id: crm.id,
          app_code: 'crm',
          status: 'completed',
          resources: ['memberships'],
          started_at: daysAgo(days),
          finished_at: daysAgo(days),
          report: '{}',
        })
        .execute();
    }
    const left = async () =>
      (
        await t.db
          .selectFrom('verifications')
          .select('started_at')
          .where('tenant_id', '=', tenantId)
          .orderBy('started_at')
          .execute()
      ).map((r) => Math.round((Date.now() - r.started_at.getTime()) / 86_400_000));
    await pruneVerifications(t.db);
    // All three are past the month: only the latest stays.
    expect(await left()).toEqual([40]);
    expect((await verify(tenantId)).statusCode).toBe(200);
    await pruneVerifications(t.db);
    // A newer one came: the old latest goes, the new one is within the month.
    expect(await left()).toEqual([0]);
  });
});

describe('POST …/verify with repair', () => {
  let t: ApiTestContext;
  let responder: VerifyResponder;
  beforeAll(async () => {
    t = await createApiTestContext('verify_repair', {
      tenantQuotas: { maxRunsPerHour: 2 },
      verifyAnswerTimeoutMs: 10_000,
    });
    // An application that holds nothing: every active row of the source is missing.
    responder = startVerifyResponder({
      redis: t.redis,
      appCode: 'crm',
      streamPrefix: t.settings.streamPrefix,
      consumerName: 'verify-repair-test',
      blockMs: 200,
      rows: async () => [],
      forget: ({ rows }) => rows.length,
    });
  });
  afterAll(async () => {
    await responder.stop();
    await t.close();
  });

  /** A tenant with the CRM enabled, and its enable run cancelled: no run of it is active. */
  const enabledTenant = async (name: string) => {
    const { tenantId } = await seedTenant(t.db, {
      tenantName: name,
      organizations: 3,
      memberships: 5,
      creditAllocations: 1,
      app: 'crm',
      seed: 9,
    });
    const enabled = await t.app.inject({
      method: 'POST',
      url: `/admin/organizations/${tenantId}/applications/crm/toggle`,
      headers: auth,
      payload: { isEnabled: true },
    });
    expect(enabled.statusCode, enabled.body).toBeLessThan(300);
    return { tenantId, enableRun: enabled.json().runId as string };
  };
  const cancel = async (tenantId: string, runId: string) => {
    const answer = await t.app.inject({
      method: 'POST',
      url: `/admin/organizations/${tenantId}/sync-runs/${runId}/cancel`,
      headers: auth,
    });
    expect(answer.statusCode, answer.body).toBe(200);
  };
  const repair = async (tenantId: string, headers = auth) => {
    const answer = await t.app.inject({
      method: 'POST',
      url: `/admin/organizations/${tenantId}/applications/crm/verify`,
      headers,
      payload: { repair: true },
    });
    expect(answer.statusCode, answer.body).toBe(200);
    expect(answer.json().status).toBe('completed');
    return answer.json();
  };
  const repairRuns = async (tenantId: string) =>
    t.db
      .selectFrom('backfill_runs')
      .select(['id', 'status', 'partitions'])
      .where('tenant_id', '=', tenantId)
      .where('trigger', '=', 'verify')
      .execute();

  it('starts a run of exactly the differing rows, and none beside another active run', async () => {
    const { tenantId, enableRun } = await enabledTenant('repair-run');
    // The enable run is active: a repair beside it would race it, so none starts.
    const beside = await repair(tenantId);
    expect(beside.differences).toBe(9);
    expect(beside.repair).toMatchObject({ runId: null, rows: 0, unrepaired: 9 });
    expect(beside.repair.error).toContain(`run ${enableRun}`);
    expect(await repairRuns(tenantId)).toEqual([]);

    await cancel(tenantId, enableRun);
    const report = await repair(tenantId);
    expect(report.repair).toMatchObject({ rows: 9, forgotten: 0, unrepaired: 0, error: null });
    const runId = report.repair.runId as string;
    expect(await repairRuns(tenantId)).toEqual([{ id: runId, status: 'queued', partitions: 2 }]);
    const listed = await t.db
      .selectFrom('backfill_run_rows')
      .select('row_id')
      .where('run_id', '=', runId)
      .execute();
    const differing = Object.values(
      report.resources as Record<string, { differences: { id: string }[] }>,
    ).flatMap((r) => r.differences.map((d) => d.id));
    expect(listed.map((r) => r.row_id).sort()).toEqual(differing.sort());
    // Enqueued like any run; shown with its trigger.
    await expect.poll(async () => Boolean(await t.queues.runs.getJob(runId))).toBe(true);
    const run = await t.app.inject({
      method: 'GET',
      url: `/admin/organizations/${tenantId}/sync-runs/${runId}`,
      headers: auth,
    });
    expect(run.json()).toMatchObject({ trigger: 'verify', total: null });
  });

  it("keeps a tenant key's repair within its run quotas, creating nothing past them", async () => {
    const { tenantId, enableRun } = await enabledTenant('repair-quota');
    await cancel(tenantId, enableRun);
    const key = { authorization: `Bearer ${await createTenantKey(t, tenantId)}` };
    // The enable run counted, the first repair makes two: TENANT_MAX_RUNS_PER_HOUR is 2.
    const first = await repair(tenantId, key);
    expect(first.repair.runId).toEqual(expect.any(String));
    await cancel(tenantId, first.repair.runId);
    const refused = await repair(tenantId, key);
    expect(refused.repair).toMatchObject({ runId: null, rows: 0, unrepaired: 9 });
    expect(refused.repair.error).toContain('TENANT_MAX_RUNS_PER_HOUR');
    expect((await repairRuns(tenantId)).map((r) => r.id)).toEqual([first.repair.runId]);
  });

  it('reports a repair of a disabled application as not repaired, creating nothing', async () => {
    const { tenantId } = await enabledTenant('repair-disabled');
    const disabled = await t.app.inject({
      method: 'POST',
      url: `/admin/organizations/${tenantId}/applications/crm/toggle`,
      headers: auth,
      payload: { isEnabled: false },
    });
    expect(disabled.statusCode, disabled.body).toBe(200);
    const report = await repair(tenantId);
    expect(report.repair).toMatchObject({ runId: null, unrepaired: 9 });
    expect(report.repair.error).toContain('not enabled');
    expect(await repairRuns(tenantId)).toEqual([]);
  });

  it('asks the application to forget ghosts the source never had, checked against it first', async () => {
    const { tenantId, enableRun } = await enabledTenant('repair-ghosts');
    await cancel(tenantId, enableRun);
    const ghost = randomUUID();
    const forgetting = startVerifyResponder({
      redis: t.redis,
      appCode: 'hr',
      streamPrefix: t.settings.streamPrefix,
      consumerName: `ghosts-${ghost}`,
      blockMs: 200,
      // The application holds one membership the source never had, and nothing else.
      rows: async ({ resource, tenantId: asked }) =>
        resource === 'memberships' && asked === tenantId
          ? [{ id: ghost, version: 3, active: true }]
          : [],
      forget: ({ rows }) => rows.filter((r) => r.id === ghost && r.version === 3).length,
    });
    try {
      const enabled = await t.app.inject({
        method: 'POST',
        url: `/admin/organizations/${tenantId}/applications/hr/toggle`,
        headers: auth,
        payload: { isEnabled: true },
      });
      await cancel(tenantId, enabled.json().runId);
      const answer = await t.app.inject({
        method: 'POST',
        url: `/admin/organizations/${tenantId}/applications/hr/verify`,
        headers: auth,
        payload: { repair: true, resources: ['memberships'] },
      });
      expect(answer.json().resources.memberships).toMatchObject({ missing: 5, ghost: 1 });
      expect(answer.json().repair).toMatchObject({ rows: 5, forgotten: 1, unrepaired: 0 });
    } finally {
      await forgetting.stop();
    }
  });
});
