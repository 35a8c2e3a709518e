/**
 * The verify route's edges (the comparison itself is test/verify.test.ts, with the real CRM): an
 * application that does not answer makes a failed verification, recorded and answered; one
 * verification of an application at a time; a tenant key verifies its own tenant only, within
 * TENANT_MAX_VERIFICATIONS_PER_HOUR.
 */
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

  it('runs one verification of an application at a time', async () => {
    const tenantId = await tenant('one-at-a-time');
    const [first, second] = await Promise.all([verify(tenantId), verify(tenantId)]);
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
});
