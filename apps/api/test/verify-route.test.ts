/**
 * The verify route's edges (the comparison itself is test/verify.test.ts, with the real CRM): an
 * application that does not answer makes a failed verification, recorded and answered; one
 * verification per tenant at a time (so one tenant cannot hold every slot of a process); a tenant key verifies its own tenant only, within
 * TENANT_MAX_VERIFICATIONS_PER_HOUR.
 */
import { pruneVerifications } from '@historical-sync/backfill';
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
