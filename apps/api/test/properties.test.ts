/**
 * Property-based tests over every route of the API with random and hostile requests
 * (requests.ts, over the models of arbitraries.ts: the route table's derived from its schemas).
 * For every generated request:
 *   1. the answer is never a 5xx;
 *   2. a rejected request (any 4xx) changes nothing, in Postgres or in Redis;
 *   3. a 400 caused by one field names that field (`field` in the JSON body), and a field that
 *      is certainly invalid is refused with that 400;
 *   4. the status is one the route's schema declares (so the document lists every answer, and the
 *      answer went through that status's response schema);
 * and, for what is accepted: what a write stores is what was sent, and what a toggle or sync
 * enqueues is a job the worker can read. Batches of syncs and toggles fired at once on one tenant
 * answer no 5xx either, and leave at most one active run per application.
 *
 * Runs per route scale with PROPERTY_RUNS (default 25); PROPERTY_SEED replays a failure.
 */
import { createHash } from 'node:crypto';
import { getRun } from '@historical-sync/backfill';
import { RESOURCE_QUEUES, ResourceJobData, resourceJobId } from '@historical-sync/contracts';
import { seedTenant } from '@historical-sync/db';
import fc from 'fast-check';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROUTE_MODELS } from './arbitraries';
import { BOARD_PREFIX, type BoardRequest, boardRequest } from './board-arbitraries';
import { type ApiTestContext, auth, createApiTestContext } from './helpers';
import { type ParamValue, Ref, type RefKind, toJsonText } from './hostile-values';
import {
  type Body,
  encodeSegment,
  type GeneratedRequest,
  queryText,
  type RouteModel,
  requestFor,
} from './requests';

const RUNS = Number(process.env.PROPERTY_RUNS ?? 25);
const SEED = process.env.PROPERTY_SEED ? Number(process.env.PROPERTY_SEED) : undefined;
/** An id no row has, for refs to an empty pool. */
const NO_ROW = '00000000-0000-4000-8000-00000000dead';
/**
 * Room for the runs and for shrinking a failure: a timed-out property would go on sending
 * requests in the background, into the next route's snapshots.
 */
const timeoutFor = (runs: number) => 60_000 + runs * 250;
/** Answers seen across every route, by status. */
const explored = new Map<number, number>();

/** The tables a request may change: wrapper rows, enablements, runs, the outbox. */
const TABLES = [
  'api_keys',
  'tenants',
  'applications',
  'entities',
  'credit_allocations',
  'organization_memberships',
  'organization_applications',
  'backfill_runs',
  'backfill_run_resources',
  'backfill_run_partitions',
  'outbox',
] as const;

describe('every route under random and hostile input', () => {
  let t: ApiTestContext;
  let tenantId: string;
  let otherTenantId: string;

  beforeAll(async () => {
    // A live stream of a run that never ends (no worker runs here) closes after 50 ms, so an
    // injected request to it answers instead of waiting for the run.
    t = await createApiTestContext('properties', { liveStreamMaxMs: 50 });
    ({ tenantId } = await seedTenant(t.db, {
      tenantName: 'props',
      organizations: 3,
      memberships: 3,
      creditAllocations: 3,
      app: 'crm',
      seed: 1,
    }));
    ({ tenantId: otherTenantId } = await seedTenant(t.db, {
      tenantName: 'props-other',
      organizations: 2,
      memberships: 1,
      creditAllocations: 1,
      app: 'crm',
      seed: 2,
    }));
    // crm enabled with a run, so that the sync and run routes have something to act on.
    const beforeEnable = await snapshot();
    const enabled = await t.app.inject({
      method: 'POST',
      url: `/admin/organizations/${tenantId}/applications/crm/toggle`,
      headers: { ...auth, 'content-type': 'application/json' },
      payload: { isEnabled: true },
    });
    expect(enabled.statusCode, enabled.body).toBe(200);
    await settle(enabled.json().runId);
    // The snapshots see a change, in both stores (else property 2 would hold vacuously).
    const afterEnable = await snapshot();
    expect(afterEnable.postgres).not.toEqual(beforeEnable.postgres);
    expect(afterEnable.redis).not.toEqual(beforeEnable.redis);
    // hr enabled without a run, so that a manual sync can start one (202).
    const hr = await t.app.inject({
      method: 'POST',
      url: `/admin/organizations/${tenantId}/applications/hr/toggle`,
      headers: { ...auth, 'content-type': 'application/json' },
      payload: { isEnabled: true, skipHistoricalSync: true },
    });
    expect(hr.json()).toMatchObject({ isEnabled: true, runId: null });
  });
  afterAll(async () => {
    await t?.close();
  });

  /**
   * Per table, the row count and a checksum of every row (the sum of each row's hash: no sort,
   * and the same whatever order rows come in): cheap enough to take twice a request.
   */
  async function postgresSnapshot(): Promise<Record<string, string>> {
    const selects = TABLES.map(
      (table) =>
        sql`SELECT ${table}::text AS t, count(*)::text || ':' || coalesce(sum(hashtextextended(x::text, 0)), 0)::text AS v FROM ${sql.table(table)} x`,
    );
    const { rows } = await sql<{
      t: string;
      v: string;
    }>`${sql.join(selects, sql` UNION ALL `)}`.execute(t.db);
    return Object.fromEntries(rows.map((r) => [r.t, r.v]));
  }

  /** Every key under the test's queue and stream prefixes, with a digest of its value (DUMP). */
  async function redisSnapshot(): Promise<Record<string, string>> {
    const keys = new Set<string>();
    for (const pattern of [`${t.settings.queuePrefix}:*`, `${t.settings.streamPrefix}*`]) {
      let cursor = '0';
      do {
        const [next, found] = await t.redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
        for (const key of found) keys.add(key);
        cursor = next;
      } while (cursor !== '0');
    }
    const sorted = [...keys].sort();
    // DUMP serializes any type (job hashes, wait lists, streams with their entries) in one call.
    const dumps = (await t.redis.pipeline(sorted.map((k) => ['dumpBuffer', k])).exec()) ?? [];
    return Object.fromEntries(
      sorted.map((key, i) => {
        const value = dumps[i]?.[1];
        const digest = Buffer.isBuffer(value)
          ? createHash('md5').update(value).digest('hex')
          : 'gone';
        return [key, digest];
      }),
    );
  }

  const snapshot = async () => ({
    postgres: await postgresSnapshot(),
    redis: await redisSnapshot(),
  });

  /** The rows a `Ref` may pick, read afresh for each request (writes add and remove rows). */
  async function refPools(): Promise<Record<RefKind, string[]>> {
    const { rows } = await sql<{ kind: RefKind; id: string }>`
      SELECT 'tenant' AS kind, id::text FROM tenants WHERE id = ${tenantId}
      UNION ALL SELECT 'otherTenant', id::text FROM tenants WHERE id = ${otherTenantId}
      UNION ALL SELECT 'org', id::text FROM entities WHERE tenant_id = ${tenantId} AND entity_type = 'organization'
      UNION ALL SELECT 'otherOrg', id::text FROM entities WHERE tenant_id = ${otherTenantId}
      UNION ALL SELECT 'allocation', id::text FROM credit_allocations WHERE tenant_id = ${tenantId}
      UNION ALL SELECT 'otherAllocation', id::text FROM credit_allocations WHERE tenant_id = ${otherTenantId}
      UNION ALL SELECT 'membership', id::text FROM organization_memberships WHERE tenant_id = ${tenantId}
      UNION ALL SELECT 'run', id::text FROM backfill_runs WHERE tenant_id = ${tenantId}
      UNION ALL SELECT 'app', id::text FROM applications
      UNION ALL SELECT 'apiKey', id::text FROM api_keys
      ORDER BY 1, 2
    `.execute(t.db);
    const pools = {} as Record<RefKind, string[]>;
    for (const row of rows) {
      pools[row.kind] ??= [];
      pools[row.kind].push(row.id);
    }
    return pools;
  }

  const resolver = (pools: Record<RefKind, string[]>) => (ref: Ref) => {
    const pool = pools[ref.kind] ?? [];
    const id = pool.length ? (pool[ref.pick % pool.length] as string) : NO_ROW;
    return ref.upper ? id.toUpperCase() : id;
  };

  /** Waits until an accepted enable or sync has enqueued its run, then reads its jobs' data. */
  async function settle(runId: string | null | undefined) {
    if (!runId) return;
    const deadline = Date.now() + 5_000;
    while (!(await t.queues.runs.getJob(runId))) {
      // Cancelled meanwhile (a disable in the same batch): its jobs are removed or never added.
      if ((await getRun(t.db, runId))?.status === 'cancelled') return;
      if (Date.now() > deadline) throw new Error(`run ${runId} was never enqueued`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const run = await getRun(t.db, runId);
    expect(run).toBeDefined();
    if (run?.status === 'cancelled') return;
    for (const { resource } of run?.resources ?? []) {
      for (let partition = 0; partition < (run?.partitions ?? 1); partition++) {
        const id = resourceJobId(runId, resource, partition, run?.partitions);
        const job = await t.queues.resources[resource].getJob(id);
        expect(job, `job ${id} on ${RESOURCE_QUEUES[resource]}`).toBeDefined();
        // What the API accepted, the worker must be able to read.
        ResourceJobData.parse(job?.data);
      }
    }
  }

  function buildUrl(
    route: RouteModel,
    params: Record<string, ParamValue>,
    resolve: (r: Ref) => string,
  ) {
    const path = route.path.replace(/:(\w+)|\*$/g, (match, name: string | undefined) => {
      const value = params[name ?? match];
      if (value === undefined) throw new Error(`no value for :${name}`);
      if (value instanceof Ref) return encodeSegment(resolve(value));
      return value.raw ? value.literal : encodeSegment(value.literal);
    });
    return path;
  }

  function payloadOf(body: Body, resolve: (r: Ref) => string): string | Buffer {
    switch (body.kind) {
      case 'json':
        return toJsonText(body.value, resolve);
      case 'text':
        return body.text;
      case 'bytes':
        return Buffer.from(body.bytes);
    }
  }

  /** Fields a 2xx write must echo as stored: [body field, response field, expected from sent]. */
  const ECHOES: Record<string, Array<[string, string, (sent: unknown) => unknown]>> = {
    createOrganization: orgEchoes(),
    updateOrganization: orgEchoes(),
    allocateCredits: allocationEchoes(),
    updateAllocation: allocationEchoes(),
    addMembership: [
      ['role', 'role', (s) => (typeof s === 'string' ? s.trim() : s)],
      ['userId', 'userId', (s) => (typeof s === 'string' ? s.toLowerCase() : s)],
    ],
  };
  function orgEchoes(): Array<[string, string, (sent: unknown) => unknown]> {
    const trimmed = (s: unknown) => (typeof s === 'string' ? s.trim() : s);
    const same = (s: unknown) => s;
    return [
      ['code', 'code', trimmed],
      ['name', 'name', trimmed],
      ['description', 'description', same],
      ['industry', 'industry', same],
      ['website', 'website', same],
    ];
  }
  function allocationEchoes(): Array<[string, string, (sent: unknown) => unknown]> {
    const instant = (s: unknown) => (typeof s === 'string' ? new Date(s).toISOString() : s);
    return [
      ['amount', 'amount', (s) => s],
      ['availableCredits', 'availableCredits', (s) => s],
      ['expiresAt', 'expiresAt', instant],
    ];
  }

  /** The statuses the registered route's schema declares; undefined for third-party routes. */
  function declaredStatuses(route: RouteModel): number[] | undefined {
    const registered = t.app.registeredRoutes.find(
      (r) => r.method === route.method && r.url === route.path,
    );
    if (!registered) throw new Error(`${route.name}: not a registered route`);
    const response = registered.schema?.response as object | undefined;
    return response ? Object.keys(response).map(Number) : undefined;
  }

  for (const route of ROUTE_MODELS) {
    const runs = RUNS * (route.weight ?? 1);
    it(
      `${route.name}: no 5xx; a 4xx changes nothing; a 400 names the faulty field; the status is declared`,
      async () => {
        const statuses = new Map<number, number>();
        const declared = declaredStatuses(route);
        await fc.assert(
          fc.asyncProperty(requestFor(route), async (request: GeneratedRequest) => {
            const pools = await refPools();
            const resolve = resolver(pools);
            const url = buildUrl(route, request.params, resolve) + queryText(request, resolve);
            const payload = request.body ? payloadOf(request.body, resolve) : undefined;
            const before = await snapshot();
            const response = await t.app.inject({
              method: request.method as 'GET',
              url,
              headers: { ...(request.withoutAdminKey ? {} : auth), ...request.headers },
              ...(payload !== undefined ? { payload } : {}),
            });
            const status = response.statusCode;
            statuses.set(status, (statuses.get(status) ?? 0) + 1);
            const context = `${request.method} ${url.slice(0, 300)} -> ${status} ${response.body.slice(0, 500)}`;

            // 1. Never a server error.
            expect(status, context).toBeLessThan(500);
            // 4. An answer of this route (not of another method's 404) is one its schema declares.
            if (declared && request.method === route.method) {
              expect(declared, `undeclared status: ${context}`).toContain(status);
            }
            const json = (() => {
              try {
                return response.json();
              } catch {
                return undefined;
              }
            })();

            if (status >= 400) {
              // Every error is the one JSON shape.
              expect(json, context).toMatchObject({
                error: expect.any(String),
                message: expect.any(String),
              });
              // 2. A rejected request changes nothing.
              expect(await snapshot(), context).toEqual(before);
            } else if (route.name === 'toggleApplication' || route.name === 'syncHistorical') {
              await settle(json?.runId);
            }

            const { fault } = request;
            if (fault.kind === 'field') {
              if (fault.mustReject) {
                expect([400, ...(fault.alsoAllowed ?? [])], `${fault.what}: ${context}`).toContain(
                  status,
                );
              }
              // 3. A 400 about one field names it, or the element of it that is wrong (a list's
              // `resources.0`); or, for a value the schema accepts, the field a rule against the
              // stored row names, e.g. availableCredits above the amount.
              const named = fault.mustReject
                ? fault.fields
                : [...fault.fields, ...(route.domainFields ?? [])];
              const field = String(json?.field);
              const owner = named.find((f) => field === f || field.startsWith(`${f}.`));
              if (status === 400) expect(named, `${fault.what}: ${context}`).toContain(owner);
            } else if (fault.kind === 'request') {
              if (fault.mustReject) {
                expect(status, `${fault.what}: ${context}`).toBeGreaterThanOrEqual(400);
                if (fault.statuses)
                  expect(fault.statuses, `${fault.what}: ${context}`).toContain(status);
              }
            } else {
              // A valid request is never refused as malformed; only a rule across fields may 400.
              expect([413, 415], context).not.toContain(status);
              if (status === 400) expect(route.domainFields ?? [], context).toContain(json?.field);
            }

            // What an accepted write stores is exactly what was sent.
            const echoes = ECHOES[route.name];
            if (status < 300 && echoes && request.body?.kind === 'json') {
              const sent = JSON.parse(payloadOf(request.body, resolve) as string) as Record<
                string,
                unknown
              >;
              for (const [from, to, expected] of echoes) {
                // Compared as JSON: -0 is sent as a valid 0.
                if (from in sent) {
                  expect(JSON.stringify(json?.[to]), `${from}: ${context}`).toBe(
                    JSON.stringify(expected(sent[from])),
                  );
                }
              }
            }
          }),
          { numRuns: runs, ...(SEED !== undefined ? { seed: SEED } : {}) },
        );
        for (const [status, n] of statuses) explored.set(status, (explored.get(status) ?? 0) + n);
      },
      timeoutFor(runs),
    );
  }

  /** One of the requests a concurrent batch fires: a sync (real or dry) or a toggle. */
  const concurrentAction = fc.record({
    app: fc.constantFrom('crm', 'hr'),
    kind: fc.constantFrom('sync', 'sync', 'dry-run', 'enable', 'disable'),
    sinceDate: fc.option(
      fc
        .integer({ min: Date.UTC(2000, 0, 1) * 1000, max: Date.UTC(2030, 0, 1) * 1000 })
        .map((micros) => {
          const iso = new Date(Math.floor(micros / 1000)).toISOString();
          return `${iso.slice(0, 23)}${String(micros % 1000).padStart(3, '0')}Z`;
        }),
      { nil: undefined },
    ),
  });

  it(
    'concurrent syncs and toggles on one tenant: no 5xx, at most one active run per application',
    async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.array(concurrentAction, { minLength: 2, maxLength: 30 }),
          async (actions) => {
            const base = `/admin/organizations/${tenantId}/applications`;
            const responses = await Promise.all(
              actions.map(({ app, kind, sinceDate }) =>
                t.app.inject({
                  method: 'POST',
                  headers: auth,
                  ...(kind === 'enable' || kind === 'disable'
                    ? { url: `${base}/${app}/toggle`, payload: { isEnabled: kind === 'enable' } }
                    : {
                        url: `${base}/${app}/sync-historical`,
                        payload: { dryRun: kind === 'dry-run', sinceDate: sinceDate ?? null },
                      }),
                }),
              ),
            );
            const runIds = new Set<string>();
            for (const [i, response] of responses.entries()) {
              const context = `${JSON.stringify(actions[i])} -> ${response.statusCode} ${response.body.slice(0, 300)}`;
              expect(response.statusCode, context).toBeLessThan(500);
              // 409: a sync of an application a toggle of the same batch had just disabled.
              expect([200, 202, 409], context).toContain(response.statusCode);
              const runId = response.json().runId;
              if (typeof runId === 'string') runIds.add(runId);
            }
            // Later properties compare snapshots: every run's jobs are in Redis before they start.
            for (const runId of runIds) await settle(runId);
            const { rows } = await sql<{ n: number }>`
              SELECT count(*)::int AS n FROM backfill_runs
              WHERE tenant_id = ${tenantId} AND status IN ('queued', 'running', 'paused')
              GROUP BY application_id ORDER BY n DESC LIMIT 1
            `.execute(t.db);
            expect(rows[0]?.n ?? 0).toBeLessThanOrEqual(1);
          },
        ),
        { numRuns: RUNS, ...(SEED !== undefined ? { seed: SEED } : {}) },
      );
    },
    timeoutFor(RUNS * 10),
  );

  it(
    'Bull Board: no 5xx; a 4xx changes nothing; wrong credentials are refused',
    async () => {
      await fc.assert(
        fc.asyncProperty(boardRequest, async (request: BoardRequest) => {
          const pools = await refPools();
          const resolve = resolver(pools);
          const path = request.segments
            .map((s) =>
              typeof s === 'string'
                ? s
                : s instanceof Ref
                  ? encodeSegment(resolve(s))
                  : s.raw
                    ? s.literal
                    : encodeSegment(s.literal),
            )
            .join('');
          const url = `${BOARD_PREFIX}${path}${request.query}`;
          const payload = request.body ? payloadOf(request.body, resolve) : undefined;
          const before = await snapshot();
          const response = await t.app.inject({
            method: request.method as 'GET',
            url,
            headers: { ...(request.withoutAdminKey ? {} : auth), ...request.headers },
            ...(payload !== undefined ? { payload } : {}),
          });
          const status = response.statusCode;
          explored.set(status, (explored.get(status) ?? 0) + 1);
          const context = `${request.method} ${url.slice(0, 300)} -> ${status} ${response.body.slice(0, 300)}`;
          expect(status, context).toBeLessThan(500);
          if (status >= 400) expect(await snapshot(), context).toEqual(before);
          // Traversal out of the static folder serves nothing of the host or the repository.
          expect(response.body, context).not.toMatch(/root:x:0:0|"workspaces"|"@historical-sync\//);
          // Wrong credentials never reach a handler (routing may refuse first: 400/404).
          if (request.mustReject) expect(status, context).toBeGreaterThanOrEqual(400);
        }),
        { numRuns: RUNS * 4, ...(SEED !== undefined ? { seed: SEED } : {}) },
      );
    },
    timeoutFor(RUNS * 4),
  );

  it('explored every kind of answer (the generators are not stuck on one outcome)', () => {
    const seen = [...explored.keys()].sort();
    expect(seen, JSON.stringify([...explored].sort())).toEqual(
      // 202 (a new run) is left out: whether one starts depends on the runs the toggles left.
      expect.arrayContaining([200, 201, 400, 401, 404, 409, 413, 415]),
    );
    const total = [...explored.values()].reduce((sum, n) => sum + n, 0);
    // The figure a larger run reports (docs/RELIABILITY.md).
    console.log(
      `properties: ${total} requests, answers by status ${JSON.stringify(Object.fromEntries([...explored].sort()))}`,
    );
  });
});
