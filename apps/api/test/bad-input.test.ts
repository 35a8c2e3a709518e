/**
 * Bad and hostile input: every case gets a 4xx with a message, never a 5xx, and nothing is
 * enqueued or recorded.
 */
import { seedTenant } from '@historical-sync/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiTestContext, auth, createApiTestContext } from './helpers';

describe('bad and hostile input', () => {
  let t: ApiTestContext;
  let tenantId: string;
  let organizationId: string;
  const unknownTenant = '00000000-0000-4000-8000-000000000000';

  beforeAll(async () => {
    t = await createApiTestContext('bad_input');
    ({ tenantId } = await seedTenant(t.db, {
      tenantName: 'hostile',
      organizations: 1,
      memberships: 1,
      creditAllocations: 1,
      app: 'crm',
      seed: 1,
    }));
    ({ id: organizationId } = await t.db
      .selectFrom('entities')
      .select('id')
      .where('tenant_id', '=', tenantId)
      .executeTakeFirstOrThrow());
  });
  afterAll(async () => {
    await t.close();
  });

  const toggleUrl = (tenant?: string, app = 'crm') =>
    `/admin/organizations/${tenant ?? tenantId}/applications/${app}/toggle`;
  const syncUrl = (tenant?: string, app = 'crm') =>
    `/admin/organizations/${tenant ?? tenantId}/applications/${app}/sync-historical`;
  const writeUrl = (resource: 'organizations' | 'credit-allocations' | 'memberships') =>
    `/admin/organizations/${tenantId}/${resource}`;

  const cases: Array<{
    name: string;
    url: () => string;
    /** Sent when the test runs (ids seeded in beforeAll); `payload` otherwise. */
    body?: () => object;
    payload?: unknown;
    rawBody?: string;
    headers?: Record<string, string>;
    status: number;
    message: RegExp;
    field?: string;
  }> = [
    {
      name: 'isEnabled of the wrong type',
      url: () => toggleUrl(),
      payload: { isEnabled: 'yes' },
      status: 400,
      message: /body\.isEnabled/,
      field: 'isEnabled',
    },
    {
      name: 'missing isEnabled',
      url: () => toggleUrl(),
      payload: {},
      status: 400,
      message: /body\.isEnabled/,
      field: 'isEnabled',
    },
    {
      name: 'an unknown field',
      url: () => toggleUrl(),
      payload: { isEnabled: true, admin: true },
      status: 400,
      message: /unknown field "admin"/,
      field: 'admin',
    },
    {
      name: 'a prototype-polluting key',
      url: () => toggleUrl(),
      rawBody: '{"isEnabled":true,"__proto__":{"x":1}}',
      status: 400,
      message: /./,
    },
    {
      name: 'skipHistoricalSync as a string',
      url: () => toggleUrl(),
      payload: { isEnabled: true, skipHistoricalSync: 'true' },
      status: 400,
      message: /body\.skipHistoricalSync/,
      field: 'skipHistoricalSync',
    },
    {
      name: 'an array body',
      url: () => toggleUrl(),
      payload: [{ isEnabled: true }],
      status: 400,
      message: /body/,
    },
    {
      name: 'malformed JSON',
      url: () => toggleUrl(),
      rawBody: '{"isEnabled": tru',
      status: 400,
      message: /JSON/i,
    },
    {
      name: 'a huge body',
      url: () => toggleUrl(),
      payload: { isEnabled: true, pad: 'x'.repeat(200_000) },
      status: 413,
      message: /too large/i,
    },
    {
      name: 'a tenant id that is not a UUID',
      url: () => toggleUrl("1' OR '1'='1"),
      payload: { isEnabled: true },
      status: 400,
      message: /params\.orgId/,
      field: 'orgId',
    },
    {
      name: 'an unknown tenant',
      url: () => toggleUrl(unknownTenant),
      payload: { isEnabled: true },
      status: 404,
      message: /tenant .* not found/,
      field: 'orgId',
    },
    {
      name: 'an unknown application',
      url: () => toggleUrl(undefined, 'nope'),
      payload: { isEnabled: true },
      status: 404,
      message: /application nope not found/,
      field: 'appId',
    },
    {
      // The same use case as the toggle's: the field is the one this route's path names.
      name: 'an unknown application, by code',
      url: () => syncUrl(undefined, 'nope'),
      payload: {},
      status: 404,
      message: /application nope not found/,
      field: 'appCode',
    },
    {
      // Codes are case-sensitive: one in another case names the right one.
      name: 'an application code in the wrong case',
      url: () => toggleUrl(undefined, 'CRM'),
      payload: { isEnabled: true },
      status: 404,
      message: /application CRM not found; did you mean crm\?/,
      field: 'appId',
    },
    {
      name: 'an application ref with odd characters',
      url: () => toggleUrl(undefined, '%F0%9F%92%A5'),
      payload: { isEnabled: true },
      status: 400,
      message: /params\.appId/,
      field: 'appId',
    },
    {
      name: 'a tenant name where the tenant id belongs',
      url: () => toggleUrl('hostile'),
      payload: { isEnabled: true },
      status: 400,
      message:
        /params\.orgId: must be a UUID \(find tenant ids with `hsync tenants` or GET \/admin\/tenants\)/,
      field: 'orgId',
    },
    {
      name: 'a body that is not sent as JSON',
      url: () => toggleUrl(),
      rawBody: 'isEnabled=true',
      headers: { ...auth, 'content-type': 'application/x-www-form-urlencoded' },
      status: 415,
      message: /content-type: application\/json/,
    },
    {
      name: 'a sinceDate without Z or an offset (its zone would be a guess)',
      url: () => syncUrl(),
      payload: { sinceDate: '2024-06-01T00:00:00' },
      status: 400,
      message: /body\.sinceDate: needs Z or an offset after the time, e\.g\. 2024-07-01T00:00:00Z/,
      field: 'sinceDate',
    },
    {
      name: 'a malformed sinceDate',
      url: () => syncUrl(),
      payload: { sinceDate: 'last tuesday' },
      status: 400,
      message: /body\.sinceDate/,
      field: 'sinceDate',
    },
    {
      name: 'an impossible sinceDate',
      url: () => syncUrl(),
      payload: { sinceDate: '2024-02-31T00:00:00Z' },
      status: 400,
      message: /body\.sinceDate/,
      field: 'sinceDate',
    },
    {
      name: 'a sinceDate finer than the microsecond Postgres keeps',
      url: () => syncUrl(),
      payload: { sinceDate: '2024-06-01T00:00:00.6005001Z' },
      status: 400,
      message: /body\.sinceDate: has more than 6 fractional digits: Postgres keeps microseconds/,
      field: 'sinceDate',
    },
    {
      name: 'a sinceDate number',
      url: () => syncUrl(),
      payload: { sinceDate: 1700000000 },
      status: 400,
      message: /body\.sinceDate/,
      field: 'sinceDate',
    },
    {
      name: 'dryRun as a number',
      url: () => syncUrl(),
      payload: { dryRun: 1 },
      status: 400,
      message: /body\.dryRun/,
      field: 'dryRun',
    },
    {
      name: 'no resource selected',
      url: () => syncUrl(),
      payload: { syncCredits: false, syncOrganizations: false, syncAssignments: false },
      status: 400,
      message: /at least one of/,
    },
    {
      name: 'sync for an unknown tenant',
      url: () => syncUrl(unknownTenant),
      payload: {},
      status: 404,
      message: /tenant .* not found/,
    },
    {
      name: 'sync of an application not enabled',
      url: () => syncUrl(),
      payload: {},
      status: 409,
      message: /not enabled/,
    },
    // Found by the property tests (properties.test.ts): each was a 500 or a silent change.
    {
      name: 'NUL in an organization name (Postgres refuses it in text: was a 500)',
      url: () => writeUrl('organizations'),
      payload: { code: 'nul', name: 'a\u0000b' },
      status: 400,
      message: /body\.name: must not contain NUL/,
      field: 'name',
    },
    {
      name: 'NUL in an optional text field',
      url: () => writeUrl('organizations'),
      payload: { code: 'nul-description', name: 'n', description: '\u0000' },
      status: 400,
      message: /body\.description/,
      field: 'description',
    },
    {
      name: 'an unpaired surrogate in a code (would be stored as U+FFFD)',
      url: () => writeUrl('organizations'),
      payload: { code: 'x\ud800', name: 'n' },
      status: 400,
      message: /body\.code: .*unpaired surrogates/,
      field: 'code',
    },
    {
      name: 'NUL in a credit allocation targetApplication (was a 500 in the lookup)',
      url: () => writeUrl('credit-allocations'),
      body: () => ({ entityId: organizationId, targetApplication: 'crm\u0000', amount: 1 }),
      status: 400,
      message: /body\.targetApplication/,
      field: 'targetApplication',
    },
    {
      name: 'NUL in a membership role',
      url: () => writeUrl('memberships'),
      body: () => ({
        userId: unknownTenant,
        organizationId,
        role: 'admin\u0000',
      }),
      status: 400,
      message: /body\.role/,
      field: 'role',
    },
    {
      name: 'an expiresAt in year 0 UTC (a negative ISO year the event contract refuses: was a 500)',
      url: () => writeUrl('credit-allocations'),
      body: () => ({
        entityId: organizationId,
        targetApplication: 'crm',
        amount: 1,
        expiresAt: '0000-01-01T00:00:00+23:59',
      }),
      status: 400,
      message: /body\.expiresAt: must be between 0001-01-01 and 9999-12-31/,
      field: 'expiresAt',
    },
    {
      name: 'an expiresAt in year 10000 UTC (a 6-digit ISO year: was a 500)',
      url: () => writeUrl('credit-allocations'),
      body: () => ({
        entityId: organizationId,
        targetApplication: 'crm',
        amount: 1,
        expiresAt: '9999-12-31T23:59:59-23:59',
      }),
      status: 400,
      message: /body\.expiresAt/,
      field: 'expiresAt',
    },
    {
      name: 'a sinceDate in year 10000 UTC (its job data would fail the worker)',
      url: () => syncUrl(),
      payload: { sinceDate: '9999-12-31T23:59:59-23:59' },
      status: 400,
      message: /body\.sinceDate: must be between/,
      field: 'sinceDate',
    },
    {
      name: 'a sinceDate in year 0',
      url: () => syncUrl(),
      payload: { sinceDate: '0000-01-01' },
      status: 400,
      message: /body\.sinceDate/,
      field: 'sinceDate',
    },
    {
      name: 'a JSON null body (was read as {})',
      url: () => syncUrl(),
      rawBody: 'null',
      status: 400,
      message: /^body: /,
    },
    {
      name: 'an unknown field named "" (was refused without a field)',
      url: () => toggleUrl(),
      payload: { isEnabled: true, '': 1 },
      status: 400,
      message: /unknown field ""/,
      field: '',
    },
    {
      name: 'an undecodable URL (in the API error shape)',
      url: () => '/admin/organizations/%E0%A4%A/applications/crm/toggle',
      payload: { isEnabled: true },
      status: 400,
      message: /%E0%A4%A/,
    },
    {
      name: 'no credentials',
      url: () => toggleUrl(),
      payload: { isEnabled: true },
      headers: {},
      status: 401,
      message: /invalid or revoked API key/,
    },
    {
      name: 'a wrong key',
      url: () => toggleUrl(),
      payload: { isEnabled: true },
      headers: { authorization: 'Bearer wrong' },
      status: 401,
      message: /invalid or revoked API key/,
    },
    {
      name: 'another auth scheme',
      url: () => toggleUrl(),
      payload: { isEnabled: true },
      headers: { authorization: 'Basic YWRtaW46YWRtaW4=' },
      status: 401,
      message: /invalid or revoked API key/,
    },
  ];

  for (const c of cases) {
    it(`answers ${c.status} to ${c.name}`, async () => {
      const response = await t.app.inject({
        method: 'POST',
        url: c.url(),
        headers: { 'content-type': 'application/json', ...(c.headers ?? auth) },
        ...(c.rawBody !== undefined
          ? { body: c.rawBody }
          : { payload: (c.body?.() ?? c.payload) as object }),
      });
      expect(response.statusCode, response.body).toBe(c.status);
      const body = response.json();
      expect(body.message).toMatch(c.message);
      expect(typeof body.error).toBe('string');
      if (c.field !== undefined) expect(body.field).toBe(c.field);
    });
  }

  it('left nothing behind: no enablement, no run, no job, no write', async () => {
    expect(await t.db.selectFrom('organization_applications').selectAll().execute()).toEqual([]);
    expect(await t.db.selectFrom('backfill_runs').selectAll().execute()).toEqual([]);
    expect(await t.db.selectFrom('outbox').selectAll().execute()).toEqual([]);
    const versions = await t.db.selectFrom('entities').select('version').execute();
    expect(versions).toEqual([{ version: 1 }]);
    for (const queue of t.queues.all()) {
      const counts = await queue.getJobCounts();
      expect(Object.values(counts).every((n) => n === 0)).toBe(true);
    }
  });

  it('answers 404 with JSON for unknown routes and unknown runs', async () => {
    const route = await t.app.inject({ method: 'GET', url: '/admin/nothing', headers: auth });
    expect(route.statusCode).toBe(404);
    const run = await t.app.inject({
      method: 'GET',
      url: `/admin/organizations/${tenantId}/sync-runs/${unknownTenant}`,
      headers: auth,
    });
    expect(run.statusCode).toBe(404);
    expect(run.json()).toMatchObject({ field: 'runId' });
  });
});
