/**
 * Access control: hashed keys, admin and tenant-scoped keys, revocation, rate limits, security
 * headers, body limits, and no secrets in the logs.
 */
import { createHash, randomUUID } from 'node:crypto';
import { seedTenant } from '@historical-sync/db';
import { createLogger } from '@historical-sync/runtime';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/app';
import { ADMIN_KEY, type ApiTestContext, auth, createApiTestContext } from './helpers';

interface CreatedKey {
  id: string;
  key: string;
  scope: 'admin' | 'tenant';
  tenantId: string | null;
}

describe('API keys and tenant scoping', () => {
  let t: ApiTestContext;
  let tenantA: string;
  let tenantB: string;
  let keyA: CreatedKey;
  let runA: string;
  const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

  const createKey = async (body: object): Promise<CreatedKey> => {
    const response = await t.app.inject({
      method: 'POST',
      url: '/admin/api-keys',
      headers: auth,
      payload: body,
    });
    expect(response.statusCode).toBe(201);
    return response.json();
  };

  /** Everything of a tenant that a request could change, as one comparable value. */
  const snapshot = async (tenantId: string) => {
    const count = (table: 'entities' | 'organization_memberships' | 'credit_allocations') =>
      t.db
        .selectFrom(table)
        .select((eb) => [eb.fn.countAll<number>().as('n'), eb.fn.max('version').as('v')])
        .where('tenant_id', '=', tenantId)
        .executeTakeFirstOrThrow();
    return {
      entities: await count('entities'),
      memberships: await count('organization_memberships'),
      credits: await count('credit_allocations'),
      enablements: await t.db
        .selectFrom('organization_applications')
        .select(['application_id', 'is_enabled', 'version'])
        .where('tenant_id', '=', tenantId)
        .orderBy('application_id')
        .execute(),
      runs: await t.db
        .selectFrom('backfill_runs')
        .select(['id', 'status'])
        .where('tenant_id', '=', tenantId)
        .orderBy('id')
        .execute(),
      outbox: await t.db
        .selectFrom('outbox')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('tenant_id', '=', tenantId)
        .executeTakeFirstOrThrow(),
    };
  };

  beforeAll(async () => {
    t = await createApiTestContext('access');
    const seed = (tenantName: string) =>
      seedTenant(t.db, {
        tenantName,
        organizations: 3,
        memberships: 4,
        creditAllocations: 2,
        app: 'crm',
        seed: 1,
      });
    tenantA = (await seed('tenant-a')).tenantId;
    tenantB = (await seed('tenant-b')).tenantId;
    keyA = await createKey({ name: 'tenant a robot', tenantId: tenantA });
    const enabled = await t.app.inject({
      method: 'POST',
      url: `/admin/organizations/${tenantA}/applications/crm/toggle`,
      headers: bearer(keyA.key),
      payload: { isEnabled: true },
    });
    expect(enabled.statusCode).toBe(200);
    runA = enabled.json().runId;
  });
  afterAll(async () => {
    await t.close();
  });

  it('stores only a digest of each key, never the key', async () => {
    const row = await t.db
      .selectFrom('api_keys')
      .selectAll()
      .where('id', '=', keyA.id)
      .executeTakeFirstOrThrow();
    expect(row.key_digest.equals(createHash('sha256').update(keyA.key).digest())).toBe(true);
    expect(JSON.stringify(row)).not.toContain(keyA.key.slice(10));
    expect(row.tenant_id).toBe(tenantA);
  });

  it('lets a tenant key act on its own tenant', async () => {
    const status = await t.app.inject({
      url: `/admin/organizations/${tenantA}/applications/crm/sync-status`,
      headers: bearer(keyA.key),
    });
    expect(status.statusCode).toBe(200);
    const run = await t.app.inject({
      url: `/admin/organizations/${tenantA}/sync-runs/${runA}`,
      headers: bearer(keyA.key),
    });
    expect(run.statusCode).toBe(200);
    expect(run.json().runId).toBe(runA);
  });

  it("answers a tenant key on another tenant's routes as for an unknown tenant, and changes nothing", async () => {
    const before = await snapshot(tenantB);
    const someId = randomUUID();
    const org = `/admin/organizations/${tenantB}`;
    const requests = [
      { method: 'POST', url: `${org}/applications/crm/toggle`, payload: { isEnabled: true } },
      { method: 'POST', url: `${org}/applications/crm/sync-historical`, payload: {} },
      { method: 'GET', url: `${org}/applications/crm/sync-status` },
      { method: 'GET', url: `${org}/sync-runs/${someId}` },
      { method: 'POST', url: `${org}/sync-runs/${someId}/pause` },
      { method: 'POST', url: `${org}/sync-runs/${someId}/resume` },
      { method: 'POST', url: `${org}/sync-runs/${someId}/cancel` },
      { method: 'POST', url: `${org}/organizations`, payload: { code: 'x', name: 'X' } },
      { method: 'PATCH', url: `${org}/organizations/${someId}`, payload: { name: 'Y' } },
      { method: 'DELETE', url: `${org}/organizations/${someId}` },
      {
        method: 'POST',
        url: `${org}/credit-allocations`,
        payload: { entityId: someId, targetApplication: 'crm', amount: 5 },
      },
      { method: 'PATCH', url: `${org}/credit-allocations/${someId}`, payload: { amount: 1 } },
      { method: 'POST', url: `${org}/credit-allocations/${someId}/deactivate`, payload: {} },
      {
        method: 'POST',
        url: `${org}/memberships`,
        payload: { userId: someId, organizationId: someId, role: 'member' },
      },
      { method: 'DELETE', url: `${org}/memberships/${someId}` },
    ] as const;
    const unknownTenant = {
      error: 'not_found',
      message: `tenant ${tenantB} not found`,
      field: 'orgId',
    };
    for (const request of requests) {
      const response = await t.app.inject({ ...request, headers: bearer(keyA.key) });
      expect({ route: `${request.method} ${request.url}`, status: response.statusCode }).toEqual({
        route: `${request.method} ${request.url}`,
        status: 404,
      });
      expect(response.json()).toEqual(unknownTenant);
    }
    // The same words an admin gets for a tenant that does not exist at all.
    const missing = randomUUID();
    const adminOnMissing = await t.app.inject({
      url: `/admin/organizations/${missing}/applications/crm/sync-status`,
      headers: auth,
    });
    expect(adminOnMissing.json()).toEqual({
      ...unknownTenant,
      message: `tenant ${missing} not found`,
    });
    expect(await snapshot(tenantB)).toEqual(before);
  });

  it('answers 404 to a tenant key for any other orgId, on every tenant route, whatever the request (property)', async () => {
    const before = await snapshot(tenantB);
    const routes = [
      ['POST', 'applications/crm/toggle'],
      ['POST', 'applications/crm/sync-historical'],
      ['GET', 'applications/crm/sync-status'],
      ['GET', 'sync-runs/{id}'],
      ['POST', 'sync-runs/{id}/pause'],
      ['POST', 'sync-runs/{id}/cancel'],
      ['POST', 'sync-runs/{id}/retry'],
      ['GET', 'sync-runs/{id}/live'],
      ['GET', 'applications'],
      ['POST', 'organizations'],
      ['PATCH', 'organizations/{id}'],
      ['DELETE', 'organizations/{id}'],
      ['POST', 'credit-allocations'],
      ['PATCH', 'credit-allocations/{id}'],
      ['POST', 'credit-allocations/{id}/deactivate'],
      ['POST', 'memberships'],
      ['DELETE', 'memberships/{id}'],
    ] as const;
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...routes),
        // Other tenants (B among them), unknown ones, and A's own id in upper case.
        fc.oneof(fc.uuid(), fc.constant(tenantB), fc.constant(tenantA.toUpperCase())),
        fc.uuid(),
        fc.jsonValue({ maxDepth: 2 }),
        async ([method, path], orgId, id, body) => {
          const response = await t.app.inject({
            method,
            url: `/admin/organizations/${orgId}/${path.replace('{id}', id)}`,
            headers: bearer(keyA.key),
            ...(method === 'GET' || method === 'DELETE' ? {} : { payload: JSON.stringify(body) }),
          });
          if (orgId.toLowerCase() === tenantA) {
            // Its own tenant: any answer but a server error.
            expect(response.statusCode).toBeLessThan(500);
          } else {
            expect(response.statusCode).toBe(404);
            expect(response.json()).toEqual({
              error: 'not_found',
              message: `tenant ${orgId} not found`,
              field: 'orgId',
            });
          }
        },
      ),
      { numRuns: Number(process.env.PROPERTY_RUNS ?? 150) },
    );
    expect(await snapshot(tenantB)).toEqual(before);
  });

  it("does not show a tenant key another tenant's run under its own tenant", async () => {
    const enabledB = await t.app.inject({
      method: 'POST',
      url: `/admin/organizations/${tenantB}/applications/crm/toggle`,
      headers: auth,
      payload: { isEnabled: true },
    });
    const runB = enabledB.json().runId;
    expect(runB).toBeTruthy();
    for (const path of ['', '/pause', '/cancel']) {
      const response = await t.app.inject({
        method: path ? 'POST' : 'GET',
        url: `/admin/organizations/${tenantA}/sync-runs/${runB}${path}`,
        headers: bearer(keyA.key),
      });
      expect(response.statusCode).toBe(404);
      expect(response.json()).toMatchObject({ error: 'not_found', field: 'runId' });
    }
    const run = await t.db
      .selectFrom('backfill_runs')
      .select('status')
      .where('id', '=', runB)
      .executeTakeFirstOrThrow();
    expect(run.status).not.toBe('cancelled');
    expect(run.status).not.toBe('paused');
  });

  it('keeps Bull Board, metrics, the outbox and key management for admin keys', async () => {
    const basic = (key: string) => ({
      authorization: `Basic ${Buffer.from(`admin:${key}`).toString('base64')}`,
    });
    const adminOnly = [
      { method: 'GET', url: '/metrics' },
      { method: 'GET', url: '/admin/outbox' },
      { method: 'GET', url: '/admin/api-keys' },
      { method: 'POST', url: '/admin/api-keys', payload: { name: 'escalate', tenantId: null } },
      { method: 'DELETE', url: `/admin/api-keys/${keyA.id}` },
      { method: 'GET', url: '/admin/queues' },
    ] as const;
    for (const request of adminOnly) {
      const asTenant = await t.app.inject({ ...request, headers: bearer(keyA.key) });
      expect({ url: request.url, status: asTenant.statusCode }).toEqual({
        url: request.url,
        status: 403,
      });
    }
    const board = await t.app.inject({ url: '/admin/queues', headers: basic(keyA.key) });
    expect(board.statusCode).toBe(403);
    const keys = await t.app.inject({ url: '/admin/api-keys', headers: auth });
    expect(keys.json().keys).toHaveLength(1); // the tenant key could not create one

    // A stored admin key reaches them all, Bull Board through Basic auth as a browser sends it.
    const admin = await createKey({ name: 'ops' });
    expect(admin).toMatchObject({ scope: 'admin', tenantId: null });
    expect((await t.app.inject({ url: '/metrics', headers: bearer(admin.key) })).statusCode).toBe(
      200,
    );
    expect(
      (await t.app.inject({ url: '/admin/queues', headers: basic(admin.key) })).statusCode,
    ).toBe(200);
    const noCredentials = await t.app.inject({ url: '/admin/queues' });
    expect(noCredentials.statusCode).toBe(401);
    expect(noCredentials.headers['www-authenticate']).toMatch(/^Basic /);
  });

  it('refuses missing, unknown, malformed and revoked keys with 401', async () => {
    const url = `/admin/organizations/${tenantA}/applications/crm/sync-status`;
    const unknown = `hsk_${'A'.repeat(43)}`;
    for (const headers of [
      {},
      bearer(''),
      bearer('not-a-key'),
      bearer(unknown),
      { authorization: ADMIN_KEY },
      { authorization: `Bearer ${ADMIN_KEY} extra` },
      { authorization: `Bearer  ${ADMIN_KEY}` },
      { authorization: `Basic ${Buffer.from(`root:${ADMIN_KEY}`).toString('base64')}` },
    ]) {
      const response = await t.app.inject({ url, headers });
      expect(response.statusCode).toBe(401);
      expect(response.json()).toEqual({
        error: 'unauthorized',
        message: 'missing, invalid or revoked API key',
      });
    }

    const temporary = await createKey({ name: 'short-lived', tenantId: tenantA });
    expect((await t.app.inject({ url, headers: bearer(temporary.key) })).statusCode).toBe(200);
    const revoked = await t.app.inject({
      method: 'DELETE',
      url: `/admin/api-keys/${temporary.id}`,
      headers: auth,
    });
    expect(revoked.statusCode).toBe(200);
    expect(revoked.json().revokedAt).toBeTruthy();
    expect((await t.app.inject({ url, headers: bearer(temporary.key) })).statusCode).toBe(401);
    // Revoking again changes nothing; an unknown key id is a 404.
    const again = await t.app.inject({
      method: 'DELETE',
      url: `/admin/api-keys/${temporary.id}`,
      headers: auth,
    });
    expect(again.json().revokedAt).toBe(revoked.json().revokedAt);
    const missing = await t.app.inject({
      method: 'DELETE',
      url: `/admin/api-keys/${randomUUID()}`,
      headers: auth,
    });
    expect(missing.statusCode).toBe(404);
  });

  it('refuses a key for a tenant that does not exist, naming the field', async () => {
    const before = await t.db.selectFrom('api_keys').select('id').execute();
    const response = await t.app.inject({
      method: 'POST',
      url: '/admin/api-keys',
      headers: auth,
      payload: { name: 'ghost', tenantId: randomUUID() },
    });
    expect(response.statusCode).toBe(404);
    expect(response.json().field).toBe('tenantId');
    const bad = await t.app.inject({
      method: 'POST',
      url: '/admin/api-keys',
      headers: auth,
      payload: { name: 'x', scope: 'admin' },
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().field).toBe('scope');
    expect(await t.db.selectFrom('api_keys').select('id').execute()).toEqual(before);
  });

  it('sends security headers on every response', async () => {
    for (const url of ['/health', '/docs', `/admin/organizations/${tenantA}/sync-runs/${runA}`]) {
      const response = await t.app.inject({ url, headers: bearer(keyA.key) });
      expect(response.headers['x-content-type-options']).toBe('nosniff');
      expect(response.headers['x-frame-options']).toBe('SAMEORIGIN');
      expect(response.headers['strict-transport-security']).toMatch(/max-age=\d+/);
      expect(response.headers['content-security-policy']).toContain("frame-ancestors 'none'");
      expect(response.headers['x-powered-by']).toBeUndefined();
    }
  });

  it('answers a body over the limit with 413 and changes nothing', async () => {
    const before = await snapshot(tenantA);
    const response = await t.app.inject({
      method: 'POST',
      url: `/admin/organizations/${tenantA}/organizations`,
      headers: { ...bearer(keyA.key), 'content-type': 'application/json' },
      payload: JSON.stringify({ code: 'big', name: 'x'.repeat(70 * 1024) }),
    });
    expect(response.statusCode).toBe(413);
    expect(response.json().error).toBe('body_too_large');
    expect(await snapshot(tenantA)).toEqual(before);
  });
});

describe('rate limits per key', () => {
  let t: ApiTestContext;
  beforeAll(async () => {
    t = await createApiTestContext('rate-limit', { rateLimitPerMinute: 5 });
  });
  afterAll(async () => {
    await t.close();
  });

  it('answers 429 past the limit for that key only', async () => {
    const { tenantId } = await seedTenant(t.db, {
      tenantName: 'limited',
      organizations: 1,
      memberships: 0,
      creditAllocations: 0,
      app: 'crm',
      seed: 1,
    });
    const created = await t.app.inject({
      method: 'POST',
      url: '/admin/api-keys',
      headers: auth,
      payload: { name: 'limited', tenantId },
    });
    const key = created.json().key as string;
    const url = `/admin/organizations/${tenantId}/applications/crm/sync-status`;
    const statuses: number[] = [];
    for (let i = 0; i < 7; i++) {
      const response = await t.app.inject({ url, headers: { authorization: `Bearer ${key}` } });
      statuses.push(response.statusCode);
      if (response.statusCode === 429) {
        expect(Number(response.headers['retry-after'])).toBeGreaterThan(0);
        expect(response.json().error).toBe('too_many_requests');
      }
    }
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429, 429]);
    // The admin key has its own budget (it used one request above).
    const admin = await t.app.inject({ url, headers: auth });
    expect(admin.statusCode).toBe(200);
  });
});

describe('failed authentications', () => {
  let t: ApiTestContext;
  beforeAll(async () => {
    t = await createApiTestContext('failed-auth', { failedAuthPerMinute: 3 });
  });
  afterAll(async () => {
    await t.close();
  });

  it('refuses a client with 429 after too many failures in a minute, but never its valid key', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) {
      const response = await t.app.inject({
        url: '/admin/outbox',
        headers: { authorization: `Bearer hsk_${String(i).repeat(43)}` },
      });
      statuses.push(response.statusCode);
    }
    expect(statuses).toEqual([401, 401, 401, 429]);
    const valid = await t.app.inject({ url: '/admin/outbox', headers: auth });
    expect(valid.statusCode).toBe(200);
    const guess = await t.app.inject({
      url: '/admin/outbox',
      headers: { authorization: `Bearer hsk_${'9'.repeat(43)}` },
    });
    expect(guess.statusCode).toBe(429);
    expect(Number(guess.headers['retry-after'])).toBeGreaterThan(0);
  });

  it('accepts the scheme in any case, and caches no unknown key', async () => {
    const t2 = await createApiTestContext('auth-scheme', { apiKeyCacheMs: 60_000 });
    try {
      const lower = await t2.app.inject({
        url: '/admin/outbox',
        headers: { authorization: `bearer ${ADMIN_KEY}` },
      });
      expect(lower.statusCode).toBe(200);
      // A key unknown at first is not remembered as unknown (only valid keys are cached): once
      // it exists, it works at once, although lookups are cached for a minute here.
      const token = `hsk_${'B'.repeat(43)}`;
      const bearerToken = { authorization: `Bearer ${token}` };
      expect((await t2.app.inject({ url: '/admin/outbox', headers: bearerToken })).statusCode).toBe(
        401,
      );
      await t2.db
        .insertInto('api_keys')
        .values({
          name: 'inserted',
          key_digest: createHash('sha256').update(token).digest(),
          key_prefix: token.slice(0, 10),
          tenant_id: null,
        })
        .execute();
      expect((await t2.app.inject({ url: '/admin/outbox', headers: bearerToken })).statusCode).toBe(
        200,
      );
    } finally {
      await t2.close();
    }
  });
});

describe('logs', () => {
  it('never contain a key, an Authorization header or a created secret', async () => {
    const t = await createApiTestContext('logs');
    const lines: string[] = [];
    const logger = createLogger('api', 'trace', { write: (line: string) => void lines.push(line) });
    const app = await buildApp({
      db: t.db,
      redis: t.redis,
      queues: t.queues,
      settings: t.settings,
      logger,
      adminApiKey: ADMIN_KEY,
      bodyLimitBytes: 64 * 1024,
      rateLimitPerMinute: 100,
      apiKeyCacheMs: 0,
      failedAuthPerMinute: 0,
    });
    try {
      const { tenantId } = await seedTenant(t.db, {
        tenantName: 'logged',
        organizations: 1,
        memberships: 0,
        creditAllocations: 0,
        app: 'crm',
        seed: 1,
      });
      const created = await app.inject({
        method: 'POST',
        url: '/admin/api-keys',
        headers: auth,
        payload: { name: 'logged', tenantId },
      });
      const key = created.json().key as string;
      await app.inject({
        url: `/admin/organizations/${tenantId}/applications/crm/sync-status`,
        headers: { authorization: `Bearer ${key}` },
      });
      await app.inject({ url: '/metrics', headers: { authorization: 'Bearer wrong-key-123' } });
      const output = lines.join('');
      // Each request was logged, in one line.
      expect(lines.filter((line) => line.includes('"msg":"request"'))).toHaveLength(3);
      expect(output).toContain('api key created');
      for (const secret of [ADMIN_KEY, key, 'wrong-key-123']) {
        expect(output).not.toContain(secret);
      }
      expect(output.toLowerCase()).not.toContain('authorization');
      // Should a log line ever carry request headers, the logger censors the credentials.
      logger.info({
        req: { headers: { authorization: `Bearer ${key}`, cookie: 'session=s3cret' } },
      });
      const last = lines.at(-1) ?? '';
      expect(last).toContain('[redacted]');
      expect(last).not.toContain(key);
      expect(last).not.toContain('s3cret');
    } finally {
      await app.close();
      await t.close();
    }
  });
});
