import { seedTenant } from '@historical-sync/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiTestContext, auth, createApiTestContext } from './helpers';

describe('health, readiness and metrics', () => {
  let t: ApiTestContext;
  beforeAll(async () => {
    t = await createApiTestContext('observability');
    t.startWorkers();
  });
  afterAll(async () => {
    await t.close();
  });

  it('answers /health and /ready without credentials', async () => {
    expect((await t.app.inject({ method: 'GET', url: '/health' })).json()).toEqual({
      status: 'ok',
    });
    const ready = await t.app.inject({ method: 'GET', url: '/ready' });
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toEqual({ status: 'ready', postgres: 'ok', redis: 'ok' });
  });

  it('exposes the named series in Prometheus format, to admins only', async () => {
    expect((await t.app.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(401);
    const { tenantId } = await seedTenant(t.db, {
      tenantName: 'metrics',
      organizations: 3,
      memberships: 7,
      creditAllocations: 2,
      app: 'crm',
      seed: 1,
    });
    const enabled = await t.app.inject({
      method: 'POST',
      url: `/admin/organizations/${tenantId}/applications/crm/toggle`,
      headers: auth,
      payload: { isEnabled: true },
    });
    await t.waitForRun(enabled.json().runId, ['completed']);
    await t.redis.xgroup('CREATE', t.streams('crm').organizations, 'crm', '0', 'MKSTREAM');
    // Two verifications of crm for the tenant: only the latest counts (3 rows differ).
    const crm = await t.db
      .selectFrom('applications')
      .select('id')
      .where('code', '=', 'crm')
      .executeTakeFirstOrThrow();
    const report = (missing: number, stale: number, ghost: number) =>
      JSON.stringify({
        resources: {
          memberships: { missing, stale, ghost },
          credits: { missing: 0, stale: 0, ghost: 0 },
        },
      });
    for (const [startedAt, body] of [
      ['2026-01-01T00:00:00Z', report(40, 0, 0)],
      ['2026-01-02T00:00:00Z', report(2, 1, 0)],
    ] as const) {
      await t.db
        .insertInto('verifications')
        .values({
          tenant_id: tenantId,
          application_id: crm.id,
          app_code: 'crm',
          status: 'completed',
          resources: ['memberships', 'credits'],
          started_at: new Date(startedAt),
          finished_at: new Date(startedAt),
          report: body,
        })
        .execute();
    }

    const response = await t.app.inject({ method: 'GET', url: '/metrics', headers: auth });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = response.body;
    expect(text).toMatch(/^hs_queue_jobs\{queue="backfill-memberships",state="completed"\} 1$/m);
    expect(text).toMatch(/^hs_backfill_runs\{status="completed"\} 1$/m);
    expect(text).toMatch(
      /^hs_historical_events_published\{app="crm",resource="memberships",source="historical"\} 7$/m,
    );
    expect(text).toMatch(/^hs_outbox_backlog_rows 0$/m);
    expect(text).toMatch(/^# TYPE hs_run_progress_ratio gauge$/m);
    // 3 organization events plus the run's two markers, none read yet by the crm group.
    const organizations = t.streams('crm').organizations;
    expect(text).toContain(`hs_consumer_lag{stream="${organizations}",group="crm"} 5`);
    expect(text).toContain(`hs_consumer_lag_unknown{stream="${organizations}",group="crm"} 0`);
    expect(text).toContain(`hs_consumer_group_stalled{stream="${organizations}",group="crm"} 0`);
    // The group has no consumer yet: no idle time to report.
    expect(text).not.toContain(`hs_consumer_group_idle_seconds{stream="${organizations}"`);
    expect(text).toContain(`hs_stream_length{stream="${organizations}"} 5`);
    expect(text).toMatch(
      new RegExp(`^hs_stream_memory_bytes\\{stream="${organizations}"\\} [1-9]\\d*$`, 'm'),
    );
    // The group has read nothing: its oldest unacknowledged entry is the stream's first.
    expect(text).toMatch(
      new RegExp(`^hs_stream_oldest_unacked_age_seconds\\{stream="${organizations}"\\} \\d`, 'm'),
    );
    expect(text).toMatch(/^hs_redis_used_memory_bytes [1-9]\d*$/m);
    expect(text).toMatch(/^hs_redis_maxmemory_bytes \d+$/m);
    expect(text).toMatch(/^hs_stream_last_trim_timestamp_seconds \d/m);
    expect(text).toMatch(/^hs_verification_differences\{app="crm"\} 3$/m);
    expect(text).toMatch(/^hs_verification_tenants_differing\{app="crm"\} 1$/m);
  });

  it("counts each answer's time by route pattern, method and status class, never by URL", async () => {
    const { tenantId } = await seedTenant(t.db, {
      tenantName: 'durations',
      organizations: 1,
      memberships: 1,
      creditAllocations: 0,
      app: 'crm',
      seed: 3,
    });
    const route = '/admin/organizations/:orgId/applications/:appCode/sync-status';
    const countOf = (text: string, labels: string) =>
      Number(
        text.match(
          new RegExp(`^hs_http_request_duration_seconds_count\\{${labels}\\} (\\d+)$`, 'm'),
        )?.[1] ?? 0,
      );
    const metrics = async () =>
      (await t.app.inject({ method: 'GET', url: '/metrics', headers: auth })).body;
    const ok = `route="${route}",method="GET",code="2xx"`;
    const missing = `route="${route}",method="GET",code="4xx"`;
    const before = await metrics();
    for (let i = 0; i < 3; i += 1) {
      const answer = await t.app.inject({
        method: 'GET',
        url: `/admin/organizations/${tenantId}/applications/crm/sync-status`,
        headers: auth,
      });
      expect(answer.statusCode).toBe(200);
    }
    // Another tenant's id is the same series; a 404 is its own status class.
    const unknown = await t.app.inject({
      method: 'GET',
      url: `/admin/organizations/${crypto.randomUUID()}/applications/crm/sync-status`,
      headers: auth,
    });
    expect(unknown.statusCode).toBe(404);
    // A path no route has counts as unmatched, whatever it is.
    await t.app.inject({ method: 'GET', url: `/no/such/${crypto.randomUUID()}`, headers: auth });
    const after = await metrics();
    expect(countOf(after, ok) - countOf(before, ok)).toBe(3);
    expect(countOf(after, missing) - countOf(before, missing)).toBe(1);
    expect(countOf(after, 'route="unmatched",method="GET",code="4xx"')).toBeGreaterThanOrEqual(1);
    expect(after).not.toContain(tenantId);
    expect(after).toContain(
      '# HELP hs_http_request_duration_seconds Time the API took to answer, per route pattern, method and status class\n# TYPE hs_http_request_duration_seconds histogram\n',
    );
    // Cumulative buckets up to +Inf, which equals the count.
    const buckets = [
      ...after.matchAll(
        new RegExp(
          `^hs_http_request_duration_seconds_bucket\\{le="([^"]+)",${ok}\\} (\\d+)$`,
          'gm',
        ),
      ),
    ].map((m) => [m[1], Number(m[2])] as const);
    expect(buckets.at(-1)).toEqual(['+Inf', countOf(after, ok)]);
    for (let i = 1; i < buckets.length; i += 1)
      expect(buckets[i]?.[1]).toBeGreaterThanOrEqual(buckets[i - 1]?.[1] ?? 0);
  });

  it('keeps each series’ name, type and help, beside the default process metrics', async () => {
    const text = (await t.app.inject({ method: 'GET', url: '/metrics', headers: auth })).body;
    const series = {
      hs_queue_jobs: 'Jobs per queue and state',
      hs_backfill_runs: 'Backfill runs per status',
      hs_historical_events_published:
        'Historical events published, all runs, per application and resource',
      hs_run_progress_ratio: 'Published / total of each active run',
      hs_run_events_published: 'Events published by each active run, per resource',
      hs_run_events_total: 'Events each active run will publish, per resource',
      hs_outbox_backlog_rows: 'Unpublished outbox rows',
      hs_outbox_failed_rows: 'Outbox rows set aside: their payload is not a valid event',
      hs_outbox_oldest_age_seconds: 'Age of the oldest unpublished outbox row',
      hs_consumer_lag:
        'Entries not yet delivered to a consumer group (absent when Redis cannot tell: see hs_consumer_lag_unknown)',
      hs_consumer_lag_unknown:
        '1 when Redis cannot tell a group its lag (after deletions): an alarm, not a zero',
      hs_consumer_pending: 'Entries delivered to a consumer group but not acknowledged',
      hs_consumer_group_idle_seconds:
        'Since any consumer of the group last read (absent when it has none)',
      hs_consumer_group_stalled:
        '1 when the group has entries to read and has not read for STREAM_GROUP_STALLED_MS: Redis keeps them for it',
      hs_stream_length: 'Entries on the stream',
      hs_stream_memory_bytes: 'Bytes the stream takes in Redis (MEMORY USAGE, sampled)',
      hs_stream_oldest_unacked_age_seconds:
        'Age of the oldest entry some consumer group has not acknowledged (0 when none)',
      hs_redis_used_memory_bytes: "Redis's used_memory",
      hs_redis_maxmemory_bytes: "Redis's maxmemory (0 = no limit)",
      hs_stream_last_trim_timestamp_seconds:
        'When the streams were last trimmed of what every group acknowledged (0 = never)',
      hs_verification_differences:
        "Rows that differ from the source in each tenant's latest completed verification, summed per application",
      hs_verification_tenants_differing:
        'Tenants whose latest completed verification of the application found differences',
    };
    for (const [name, help] of Object.entries(series)) {
      expect(text).toContain(`# HELP ${name} ${help}\n# TYPE ${name} gauge\n`);
    }
    expect(text).toMatch(/^hs_outbox_failed_rows 0$/m);
    expect(text).toMatch(/^hs_outbox_oldest_age_seconds 0$/m);
    for (const name of [
      'process_cpu_user_seconds_total',
      'process_resident_memory_bytes',
      'nodejs_heap_size_used_bytes',
      'nodejs_eventloop_lag_seconds',
    ])
      expect(text).toMatch(new RegExp(`^${name} \\d`, 'm'));
  });
});

describe('/docs', () => {
  it('serves the OpenAPI document generated from the route schemas at /docs/json', async () => {
    const t = await createApiTestContext('openapi');
    try {
      const response = await t.app.inject({ method: 'GET', url: '/docs/json' });
      expect(response.statusCode).toBe(200);
      const doc = response.json();
      expect(doc.openapi).toBe('3.1.0');
      expect(doc.components.securitySchemes).toMatchObject({
        bearer: { type: 'http', scheme: 'bearer' },
        basic: { type: 'http', scheme: 'basic' },
      });
      expect(doc.security).toEqual([{ bearer: [] }]);
      const toggle = doc.paths['/admin/organizations/{orgId}/applications/{appId}/toggle'].post;
      expect(toggle.requestBody.content['application/json'].schema).toMatchObject({
        type: 'object',
        properties: { isEnabled: { type: 'boolean' }, skipHistoricalSync: { type: 'boolean' } },
        required: ['isEnabled'],
        additionalProperties: false,
      });
      expect(toggle.parameters.map((p: { name: string }) => p.name)).toEqual(['orgId', 'appId']);
      const sync =
        doc.paths['/admin/organizations/{orgId}/applications/{appCode}/sync-historical'].post;
      expect(Object.keys(sync.requestBody.content['application/json'].schema.properties)).toEqual(
        expect.arrayContaining([
          'syncCredits',
          'syncOrganizations',
          'syncAssignments',
          'dryRun',
          'sinceDate',
          'pageSize',
          'maxEventsPerSecond',
          'partitions',
        ]),
      );
      // Both successes: 202 a run started, 200 the run under way or a dry run's counts.
      expect(Object.keys(sync.responses)).toEqual(
        expect.arrayContaining(['200', '202', '400', '401', '404', '409', '429']),
      );
      expect(sync.responses['202'].content['application/json'].schema.properties).toHaveProperty(
        'runId',
      );
      // Every error answer is the one shape, a component of the document.
      expect(sync.responses['400'].content['application/json'].schema).toEqual({
        $ref: '#/components/schemas/ApiError',
      });
      expect(doc.components.schemas.ApiError).toMatchObject({
        required: ['error', 'message'],
        properties: { field: { type: 'string' } },
      });
      // Non-JSON successes say their type; their errors are still JSON.
      const metrics = doc.paths['/metrics'].get.responses;
      expect(Object.keys(metrics['200'].content)).toEqual(['text/plain']);
      expect(Object.keys(metrics['401'].content)).toEqual(['application/json']);
      // What raises a run barrier says it may answer 503 (Redis unreachable).
      expect(toggle.responses).toHaveProperty('503');
      expect(
        doc.paths['/admin/organizations/{orgId}/sync-runs/{runId}/pause'].post.responses,
      ).toHaveProperty('503');
      // Public routes need no key; Bull Board's page takes Basic.
      expect(doc.paths['/health'].get.security).toEqual([]);
      expect(doc.paths['/admin/queues'].get.security).toEqual([{ basic: [] }]);
      expect(Object.keys(doc.paths).length).toBeGreaterThanOrEqual(20);
      // The same document as YAML.
      const yaml = await t.app.inject({ method: 'GET', url: '/docs/yaml' });
      expect(yaml.statusCode).toBe(200);
      expect(yaml.body).toContain('openapi: 3.1.0');
    } finally {
      await t.close();
    }
  });

  it('serves the Swagger UI page at /docs, its files from the API itself', async () => {
    const t = await createApiTestContext('openapi_page');
    try {
      const page = await t.app.inject({ method: 'GET', url: '/docs' });
      expect(page.statusCode).toBe(200);
      expect(page.headers['content-type']).toMatch(/^text\/html/);
      const sources = [...page.body.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1] ?? '');
      expect(sources.length).toBeGreaterThan(3);
      for (const source of sources) {
        expect(source).toMatch(/^\/docs\/static\//);
        const file = await t.app.inject({ method: 'GET', url: source });
        expect(file.statusCode, source).toBe(200);
      }
    } finally {
      await t.close();
    }
  });
});
