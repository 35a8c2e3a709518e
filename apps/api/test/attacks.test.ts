/**
 * Attacks on the API by a client holding at most one tenant key, each against the real API with
 * real Postgres and Redis: a failed-login flood must not lock valid keys out, a browser's cached
 * Basic credentials must not act for another site, and another tenant's run id must be
 * indistinguishable from an unknown one.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { seedTenant } from '@historical-sync/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FailedAttempts } from '../src/plugins/auth';
import {
  ADMIN_KEY,
  type ApiTestContext,
  auth,
  createApiTestContext,
  createTenantKey,
  runStatus,
  startMembershipsSync,
} from './helpers';

const bearer = (key: string) => ({ authorization: `Bearer ${key}` });
const basic = (key: string) => ({
  authorization: `Basic ${Buffer.from(`admin:${key}`).toString('base64')}`,
});
const guess = () => bearer(`hsk_${randomBytes(32).toString('base64url')}`);

async function seedOne(t: ApiTestContext, tenantName: string): Promise<string> {
  const { tenantId } = await seedTenant(t.db, {
    tenantName,
    organizations: 2,
    memberships: 3,
    creditAllocations: 0,
    app: 'crm',
    seed: 2,
  });
  return tenantId;
}

describe('a failed-login flood from one address', () => {
  const LIMIT = 10;
  let t: ApiTestContext;
  let tenantId: string;
  let tenantKey: string;
  let storedAdminKey: string;

  beforeAll(async () => {
    t = await createApiTestContext('login-flood', {
      failedAuthPerMinute: LIMIT,
      recordQueries: true,
    });
    tenantId = await seedOne(t, 'flooded');
    tenantKey = await createTenantKey(t, tenantId);
    const created = await t.app.inject({
      method: 'POST',
      url: '/admin/api-keys',
      headers: auth,
      payload: { name: 'operator' },
    });
    storedAdminKey = created.json().key;
  });
  afterAll(async () => {
    await t.close();
  });

  it('locks out no valid key from that address, Bull Board and the admin key included; the guesses stop before the database', async () => {
    const attacker = '203.0.113.9';
    t.queries.length = 0;
    // 100 random keys at once, as the report's attacker sent them.
    const flood = await Promise.all(
      Array.from({ length: 100 }, () =>
        t.app.inject({ url: '/admin/outbox', headers: guess(), remoteAddress: attacker }),
      ),
    );
    const statuses = flood.map((response) => response.statusCode);
    expect(statuses.filter((s) => s === 401)).toHaveLength(LIMIT);
    expect(statuses.filter((s) => s === 429)).toHaveLength(100 - LIMIT);
    // Only the first LIMIT guesses were looked up; the rest met the in-memory set of known digests.
    const lookups = t.queries.filter((q) => /"key_digest" = \$1/.test(q.sql));
    expect(lookups).toHaveLength(LIMIT);
    const digestLoads = t.queries.filter((q) => /select "key_digest" from "api_keys"/.test(q.sql));
    expect(digestLoads.length).toBeLessThanOrEqual(2);

    // Every valid key is served from the flooded address while it stays over the limit.
    const from = { remoteAddress: attacker };
    const served = [
      await t.app.inject({ url: '/admin/outbox', headers: auth, ...from }),
      await t.app.inject({ url: '/admin/outbox', headers: bearer(storedAdminKey), ...from }),
      await t.app.inject({
        url: `/admin/organizations/${tenantId}/applications/crm/sync-status`,
        headers: bearer(tenantKey),
        ...from,
      }),
      await t.app.inject({ url: '/admin/queues', headers: basic(storedAdminKey), ...from }),
      await t.app.inject({ url: '/admin/queues', headers: basic(ADMIN_KEY), ...from }),
    ];
    expect(served.map((response) => response.statusCode)).toEqual([200, 200, 200, 200, 200]);
    // The attacker's next guess is still refused, and the database still not asked.
    t.queries.length = 0;
    const next = await t.app.inject({ url: '/admin/outbox', headers: guess(), ...from });
    expect(next.statusCode).toBe(429);
    expect(Number(next.headers['retry-after'])).toBeGreaterThan(0);
    expect(t.queries.filter((q) => /"key_digest" = \$1/.test(q.sql))).toHaveLength(0);
    // Another address is not punished for the attacker's failures.
    const other = await t.app.inject({
      url: '/admin/outbox',
      headers: guess(),
      remoteAddress: '198.51.100.20',
    });
    expect(other.statusCode).toBe(401);
  });

  it('accepts a key created after the flood began, from the flooded address', async () => {
    const attacker = '203.0.113.10';
    for (let i = 0; i <= LIMIT; i++) {
      await t.app.inject({ url: '/admin/outbox', headers: guess(), remoteAddress: attacker });
    }
    const fresh = await createTenantKey(t, tenantId);
    const response = await t.app.inject({
      url: `/admin/organizations/${tenantId}/applications/crm/sync-status`,
      headers: bearer(fresh),
      remoteAddress: attacker,
    });
    expect(response.statusCode).toBe(200);
  });
});

describe('the failure count under very many addresses', () => {
  it('past 100,000 addresses counts new ones together, so memory stays bounded and guesses stay limited', () => {
    const failures = new FailedAttempts(3);
    for (let i = 0; i < 100_000; i++)
      expect(failures.begin(`10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`)).toBe(true);
    // New addresses now share one count: three more failures from three of them, then refused.
    expect([1, 2, 3, 4].map((i) => failures.begin(`192.0.2.${i}`))).toEqual([
      true,
      true,
      true,
      false,
    ]);
    // An address counted before keeps its own count.
    expect(failures.begin('10.0.0.1')).toBe(true);
  });
});

describe('TRUST_PROXY', () => {
  const LIMIT = 3;

  it('off: X-Forwarded-For is ignored, so a client cannot dodge the limit by rotating it', async () => {
    const t = await createApiTestContext('trust-proxy-off', { failedAuthPerMinute: LIMIT });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < LIMIT + 2; i++) {
        const response = await t.app.inject({
          url: '/admin/outbox',
          headers: { ...guess(), 'x-forwarded-for': `192.0.2.${i + 1}` },
        });
        statuses.push(response.statusCode);
      }
      expect(statuses).toEqual([401, 401, 401, 429, 429]);
    } finally {
      await t.close();
    }
  });

  it("on, naming the balancer: clients behind it are counted apart, so one client's guesses lock out no other", async () => {
    const t = await createApiTestContext('trust-proxy-on', {
      failedAuthPerMinute: LIMIT,
      trustProxy: ['127.0.0.1'],
    });
    try {
      const behind = (client: string) => ({ 'x-forwarded-for': client });
      // The balancer is the peer (inject's 127.0.0.1) for every client.
      for (let i = 0; i < LIMIT; i++) {
        await t.app.inject({
          url: '/admin/outbox',
          headers: { ...guess(), ...behind('192.0.2.50') },
        });
      }
      const attacker = await t.app.inject({
        url: '/admin/outbox',
        headers: { ...guess(), ...behind('192.0.2.50') },
      });
      expect(attacker.statusCode).toBe(429);
      const someoneElse = await t.app.inject({
        url: '/admin/outbox',
        headers: { ...guess(), ...behind('192.0.2.51') },
      });
      expect(someoneElse.statusCode).toBe(401);
      // A client cannot pose as another: the balancer appends, the left-most entry is the
      // client's own text and is not trusted.
      const spoofed = await t.app.inject({
        url: '/admin/outbox',
        headers: { ...guess(), ...behind('192.0.2.99, 192.0.2.50') },
      });
      expect(spoofed.statusCode).toBe(429);
    } finally {
      await t.close();
    }
  });
});

describe('cross-site requests with cached Basic credentials', () => {
  let t: ApiTestContext;
  let tenantId: string;
  let runId: string;
  const evil = 'https://evil.example';

  const statusOfRun = () => runStatus(t, runId);
  const runCount = async () =>
    (
      await t.db
        .selectFrom('backfill_runs')
        .select((eb) => eb.fn.countAll<string>().as('n'))
        .where('tenant_id', '=', tenantId)
        .executeTakeFirstOrThrow()
    ).n;
  const jobCount = async () => {
    let total = 0;
    for (const queue of t.queues.all()) {
      const counts = await queue.getJobCounts();
      total += Object.values(counts).reduce((sum, n) => sum + n, 0);
    }
    return total;
  };

  beforeAll(async () => {
    t = await createApiTestContext('csrf');
    ({ tenantId, runId } = await startMembershipsSync(t, 'csrf', 5));
    await t.queues.runs.pause(); // the run stays active while the test tries to change it
  });
  afterAll(async () => {
    await t.close();
  });

  it('refuses (403) a cross-site POST authorized by Basic, and changes nothing, on the API and on Bull Board', async () => {
    const before = { status: await statusOfRun(), runs: await runCount(), jobs: await jobCount() };
    expect(before.status).toBe('queued');
    const crossSite = [
      // What a form or fetch on another site makes the browser send.
      { origin: evil },
      { 'sec-fetch-site': 'cross-site' },
      { 'sec-fetch-site': 'same-site', origin: 'https://other.api.example' },
      { origin: 'null' },
    ];
    for (const headers of crossSite) {
      const requests = [
        { method: 'POST', url: `/admin/organizations/${tenantId}/sync-runs/${runId}/cancel` },
        {
          method: 'POST',
          url: `/admin/organizations/${tenantId}/applications/crm/sync-historical`,
          payload: {},
        },
        {
          method: 'POST',
          url: `/admin/queues/api/queues/${t.queues.runs.name}/add`,
          payload: { name: 'injected', data: {} },
        },
        {
          method: 'PUT',
          url: `/admin/queues/api/queues/${t.queues.runs.name}/retry/failed`,
        },
      ] as const;
      for (const request of requests) {
        const response = await t.app.inject({
          ...request,
          headers: { ...basic(ADMIN_KEY), ...headers },
        });
        expect(response.statusCode, `${request.url} ${JSON.stringify(headers)}`).toBe(403);
        expect(response.json().message).toMatch(/cross-site/);
      }
    }
    expect({ status: await statusOfRun(), runs: await runCount(), jobs: await jobCount() }).toEqual(
      before,
    );
  });

  it('lets the same request through from the API itself, and a Bearer header from anywhere', async () => {
    // The board's own page: same origin.
    const sameOrigin = await t.app.inject({
      method: 'PUT',
      url: `/admin/queues/api/queues/${t.queues.runs.name}/retry/failed`,
      headers: { ...basic(ADMIN_KEY), origin: 'http://localhost', 'sec-fetch-site': 'same-origin' },
    });
    expect(sameOrigin.statusCode).toBeLessThan(300);
    // Without Sec-Fetch-Site (older browsers), the Origin's host decides, whatever its scheme
    // (behind a TLS-terminating proxy the browser writes https, the API sees http).
    for (const origin of ['http://localhost', 'https://localhost']) {
      const response = await t.app.inject({
        method: 'PUT',
        url: `/admin/queues/api/queues/${t.queues.runs.name}/retry/failed`,
        headers: { ...basic(ADMIN_KEY), origin },
      });
      expect(response.statusCode, origin).toBeLessThan(300);
    }
    // A Bearer header is never added by a browser on its own: no cross-site risk.
    const cancelled = await t.app.inject({
      method: 'POST',
      url: `/admin/organizations/${tenantId}/sync-runs/${runId}/cancel`,
      headers: { ...auth, origin: evil, 'sec-fetch-site': 'cross-site' },
    });
    expect(cancelled.statusCode).toBe(200);
    expect(await statusOfRun()).toBe('cancelled');
  });

  it('keeps Bull Board read-only except retrying failed jobs', async () => {
    const queue = t.queues.resources.memberships.name;
    const sameOrigin = { ...basic(ADMIN_KEY), origin: 'http://localhost' };
    // A run whose job is there to be retried or cleaned (the run above was cancelled, and a
    // cancelled run's unprocessed jobs leave Redis).
    const { runId } = await startMembershipsSync(t, 'csrf-board', 5);
    await expect
      .poll(() => t.queues.resources.memberships.getJob(`${runId}-memberships`))
      .toBeDefined();
    const jobsBefore = await jobCount();
    const refused = [
      { method: 'POST', url: `/admin/queues/api/queues/${queue}/add`, payload: { name: 'x' } },
      { method: 'PUT', url: `/admin/queues/api/queues/${queue}/clean/waiting` },
      { method: 'PUT', url: `/admin/queues/api/queues/${queue}/empty` },
      { method: 'PUT', url: `/admin/queues/api/queues/${queue}/pause` },
      { method: 'PUT', url: `/admin/queues/api/queues/${queue}/retry/completed` },
      { method: 'PUT', url: `/admin/queues/api/queues/${queue}/${runId}-memberships/retry` },
      { method: 'PUT', url: `/admin/queues/api/queues/${queue}/${runId}-memberships/clean` },
    ] as const;
    for (const request of refused) {
      const response = await t.app.inject({ ...request, headers: sameOrigin });
      expect(response.statusCode, request.url).toBe(403);
      expect(response.json().message).toMatch(/BULL_BOARD_WRITABLE/);
    }
    expect(await jobCount()).toBe(jobsBefore);
    const retryFailed = await t.app.inject({
      method: 'PUT',
      url: `/admin/queues/api/queues/${queue}/retry/failed`,
      headers: sameOrigin,
    });
    expect(retryFailed.statusCode).toBeLessThan(300);
  });

  it('opens every action when BULL_BOARD_WRITABLE is set', async () => {
    const open = await createApiTestContext('board-writable', { bullBoardWritable: true });
    try {
      const response = await open.app.inject({
        method: 'PUT',
        url: `/admin/queues/api/queues/${open.queues.runs.name}/clean/completed`,
        headers: { ...basic(ADMIN_KEY), origin: 'http://localhost' },
      });
      expect(response.statusCode).toBeLessThan(300);
    } finally {
      await open.close();
    }
  });
});

describe("another tenant's run id", () => {
  let t: ApiTestContext;
  let tenantA: string;
  let keyA: string;
  let runB: string;

  beforeAll(async () => {
    t = await createApiTestContext('tenant-ids', { recordQueries: true });
    tenantA = await seedOne(t, 'prober');
    keyA = await createTenantKey(t, tenantA);
    ({ runId: runB } = await startMembershipsSync(t, 'probed', 5));
    await t.queues.runs.pause();
  });
  afterAll(async () => {
    await t.close();
  });

  /**
   * The statements one request sends and the rows each returns. Equal statements and row counts
   * for both ids mean the same work: the run is compared with the tenant inside one indexed
   * statement, and nothing more is read for either.
   */
  const trace = async (method: 'GET' | 'POST', url: string) => {
    t.queries.length = 0;
    const response = await t.app.inject({ method, url, headers: bearer(keyA) });
    return { status: response.statusCode, error: response.json().error, queries: [...t.queries] };
  };

  it('takes the same path as an unknown id: same statements, same rows read, same answer', async () => {
    const org = `/admin/organizations/${tenantA}/sync-runs`;
    for (const [method, suffix] of [
      ['GET', ''],
      ['POST', '/pause'],
      ['POST', '/resume'],
      ['POST', '/cancel'],
    ] as const) {
      const other = await trace(method, `${org}/${runB}${suffix}`);
      const unknown = await trace(method, `${org}/${randomUUID()}${suffix}`);
      expect(other.status).toBe(404);
      expect(other).toEqual(unknown);
      // None of those statements returned the other tenant's run.
      const runReads = other.queries.filter((q) => /from "backfill_runs"/.test(q.sql));
      expect(runReads.length).toBeGreaterThan(0);
      for (const read of runReads) {
        expect(read.sql).toMatch(/"tenant_id" = \$\d/);
        expect(read.rows).toBe(0);
      }
    }
    const runRow = await t.db
      .selectFrom('backfill_runs')
      .select('status')
      .where('id', '=', runB)
      .executeTakeFirstOrThrow();
    expect(runRow.status).toBe('queued');
  });
});
