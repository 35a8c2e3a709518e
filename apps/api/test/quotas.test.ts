/**
 * Tenant quotas: what a tenant key may start (runs active at once, runs per hour) and choose
 * (pageSize, maxEventsPerSecond, partitions), against the real API, Postgres and Redis.
 */
import { seedTenant } from '@historical-sync/db';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiTestContext, auth, createApiTestContext, createTenantKey } from './helpers';

const APPS = ['crm', 'hr', 'affiliate'] as const;
const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

/** A tenant with every application enabled (no run), and a key of its own. */
async function tenantWithKey(t: ApiTestContext, tenantName: string) {
  const { tenantId } = await seedTenant(t.db, {
    tenantName,
    organizations: 3,
    memberships: 5,
    creditAllocations: 2,
    app: 'crm',
    seed: 3,
  });
  for (const app of APPS) {
    const enabled = await t.app.inject({
      method: 'POST',
      url: `/admin/organizations/${tenantId}/applications/${app}/toggle`,
      headers: auth,
      payload: { isEnabled: true, skipHistoricalSync: true },
    });
    expect(enabled.statusCode).toBe(200);
  }
  return { tenantId, key: await createTenantKey(t, tenantId) };
}

const sync = (
  t: ApiTestContext,
  tenantId: string,
  headers: Record<string, string>,
  body: object = {},
  app = 'crm',
) =>
  t.app.inject({
    method: 'POST',
    url: `/admin/organizations/${tenantId}/applications/${app}/sync-historical`,
    headers,
    payload: body,
  });

async function countRows(t: ApiTestContext, tenantId: string) {
  const runs = await t.db
    .selectFrom('backfill_runs')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('tenant_id', '=', tenantId)
    .executeTakeFirstOrThrow();
  const partitions = await t.db
    .selectFrom('backfill_run_partitions')
    .innerJoin('backfill_runs', 'backfill_runs.id', 'backfill_run_partitions.run_id')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('backfill_runs.tenant_id', '=', tenantId)
    .executeTakeFirstOrThrow();
  return { runs: Number(runs.n), partitions: Number(partitions.n) };
}

async function jobCount(t: ApiTestContext): Promise<number> {
  let total = 0;
  for (const queue of t.queues.all()) {
    const counts = await queue.getJobCounts();
    total += Object.values(counts).reduce((sum, n) => sum + n, 0);
  }
  return total;
}

/** Bytes Redis holds under this test's queue prefix (every job, its data and the queue sets). */
async function queueBytes(t: ApiTestContext): Promise<number> {
  let bytes = 0;
  let cursor = '0';
  do {
    const [next, keys] = await t.redis.scan(
      cursor,
      'MATCH',
      `${t.settings.queuePrefix}:*`,
      'COUNT',
      1000,
    );
    cursor = next;
    for (const key of keys) bytes += Number((await t.redis.memory('USAGE', key)) ?? 0);
  } while (cursor !== '0');
  return bytes;
}

describe('the sync-and-cancel loop of one tenant key', () => {
  let t: ApiTestContext;
  beforeAll(async () => {
    t = await createApiTestContext('quota-loop');
  });
  afterAll(async () => {
    await t.close();
  });

  it('is stopped by the hourly quota: after 100 rounds, 20 runs and bounded rows and Redis', async () => {
    const { tenantId, key } = await tenantWithKey(t, 'looping');
    const partitions = 16; // TENANT_MAX_PARTITIONS's default, the most a tenant key may ask
    const statuses: number[] = [];
    let refusal = { message: '', retryAfter: 0 };
    for (let round = 0; round < 100; round++) {
      const started = await sync(t, tenantId, bearer(key), { partitions });
      statuses.push(started.statusCode);
      if (started.statusCode === 202) {
        const cancelled = await t.app.inject({
          method: 'POST',
          url: `/admin/organizations/${tenantId}/sync-runs/${started.json().runId}/cancel`,
          headers: bearer(key),
        });
        expect(cancelled.statusCode).toBe(200);
      } else {
        refusal = {
          message: started.json().message,
          retryAfter: Number(started.headers['retry-after']),
        };
      }
    }
    // TENANT_MAX_RUNS_PER_HOUR's default is 20.
    expect(statuses.slice(0, 20)).toEqual(Array(20).fill(202));
    expect(statuses.slice(20)).toEqual(Array(80).fill(429));
    expect(refusal.message).toMatch(/at most 20 \(TENANT_MAX_RUNS_PER_HOUR\)/);
    expect(refusal.retryAfter).toBeGreaterThan(3500);
    expect(refusal.retryAfter).toBeLessThanOrEqual(3600);

    // The bound: 20 runs of 3 resources x 16 partitions in Postgres; in Redis, none of their
    // jobs, since a cancelled run's unprocessed jobs are removed (no worker runs here).
    expect(await countRows(t, tenantId)).toEqual({ runs: 20, partitions: 20 * 3 * partitions });
    await expect.poll(() => jobCount(t), { timeout: 30_000 }).toBe(0);
    const bytes = await queueBytes(t);
    expect(bytes).toBeLessThan(4 * 1024 * 1024);
  });
});

describe('quotas under 50 concurrent requests', () => {
  it('never creates more active runs than TENANT_MAX_ACTIVE_RUNS', async () => {
    const t = await createApiTestContext('quota-active', {
      tenantQuotas: { maxActiveRuns: 2, maxRunsPerHour: 0 },
    });
    try {
      const { tenantId, key } = await tenantWithKey(t, 'racing');
      const responses = await Promise.all(
        Array.from({ length: 50 }, (_, i) => sync(t, tenantId, bearer(key), {}, APPS[i % 3])),
      );
      const statuses = responses.map((r) => r.statusCode);
      expect(statuses.filter((s) => s === 202)).toHaveLength(2);
      const refused = responses.filter((r) => r.statusCode === 409);
      expect(refused.length).toBeGreaterThan(0);
      expect(refused[0]?.json()).toMatchObject({ error: 'quota_exceeded' });
      expect(refused[0]?.json().message).toMatch(/at most 2 \(TENANT_MAX_ACTIVE_RUNS\)/);
      // The rest are answered the active run of their application (200).
      expect(statuses.every((s) => s === 202 || s === 200 || s === 409)).toBe(true);
      expect((await countRows(t, tenantId)).runs).toBe(2);
    } finally {
      await t.close();
    }
  });

  it('never starts more runs in an hour than TENANT_MAX_RUNS_PER_HOUR', async () => {
    const t = await createApiTestContext('quota-hourly', {
      tenantQuotas: { maxActiveRuns: 0, maxRunsPerHour: 2 },
    });
    try {
      const { tenantId, key } = await tenantWithKey(t, 'racing');
      const responses = await Promise.all(
        Array.from({ length: 50 }, (_, i) => sync(t, tenantId, bearer(key), {}, APPS[i % 3])),
      );
      expect(responses.filter((r) => r.statusCode === 202)).toHaveLength(2);
      expect(responses.some((r) => r.statusCode === 429)).toBe(true);
      expect((await countRows(t, tenantId)).runs).toBe(2);
    } finally {
      await t.close();
    }
  });
});

describe('what a tenant key may choose and start', () => {
  let t: ApiTestContext;
  let tenantId: string;
  let key: string;
  beforeAll(async () => {
    t = await createApiTestContext('quota-choices', {
      tenantQuotas: {
        maxRunsPerHour: 1,
        maxPageSize: 500,
        maxEventsPerSecond: 1000,
        maxPartitions: 4,
      },
    });
    ({ tenantId, key } = await tenantWithKey(t, 'choosing'));
  });
  afterAll(async () => {
    await t.close();
  });

  it('refuses values past the tenant limits with a 400 naming the field and the setting', async () => {
    const cases = [
      [{ pageSize: 501 }, 'pageSize', 'TENANT_MAX_PAGE_SIZE'],
      [{ maxEventsPerSecond: 1001 }, 'maxEventsPerSecond', 'TENANT_MAX_EVENTS_PER_SECOND'],
      [{ partitions: 5 }, 'partitions', 'TENANT_MAX_PARTITIONS'],
    ] as const;
    for (const [body, field, setting] of cases) {
      const response = await sync(t, tenantId, bearer(key), body);
      expect(response.statusCode).toBe(400);
      expect(response.json().field).toBe(field);
      expect(response.json().message).toContain(setting);
    }
    expect((await countRows(t, tenantId)).runs).toBe(0);
  });

  it('holds for any values within the hard limits: the first value past its tenant limit is named, and nothing is created (property)', async () => {
    const limits = { pageSize: 500, maxEventsPerSecond: 1000, partitions: 4 } as const;
    const fields = ['pageSize', 'maxEventsPerSecond', 'partitions'] as const;
    const value = (hard: number, limit: number) =>
      fc.option(fc.oneof(fc.integer({ min: 1, max: hard }), fc.constantFrom(limit, limit + 1)), {
        nil: undefined,
      });
    const before = await countRows(t, tenantId);
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          pageSize: value(10_000, limits.pageSize),
          maxEventsPerSecond: value(10_000_000, limits.maxEventsPerSecond),
          partitions: value(256, limits.partitions),
        }),
        async (choice) => {
          const body = Object.fromEntries(
            Object.entries(choice).filter(([, v]) => v !== undefined),
          );
          const response = await sync(t, tenantId, bearer(key), { ...body, dryRun: true });
          const over = fields.find((field) => (choice[field] ?? 0) > limits[field]);
          if (over) {
            expect(response.statusCode).toBe(400);
            expect(response.json().field).toBe(over);
          } else {
            expect(response.statusCode).toBe(200);
            expect(response.json().dryRun).toBe(true);
          }
        },
      ),
      { numRuns: 60 },
    );
    expect(await countRows(t, tenantId)).toEqual(before);
  });

  it('lets an admin key go past them, up to the hard limits, and not count against the tenant', async () => {
    const admin = await sync(t, tenantId, auth, { partitions: 256, pageSize: 10_000 }, 'hr');
    expect(admin.statusCode).toBe(202);
    expect((await sync(t, tenantId, auth, { partitions: 257 }, 'affiliate')).statusCode).toBe(400);
    // The admin's run counts among the tenant's runs this hour: the tenant key's budget of 1 is
    // spent, and the refusal says so.
    const tenant = await sync(t, tenantId, bearer(key), { partitions: 4, pageSize: 500 });
    expect(tenant.statusCode).toBe(429);
    expect(tenant.json().message).toContain('TENANT_MAX_RUNS_PER_HOUR');
  });

  it('refuses an enable that would start a run past the quota; one that starts none passes', async () => {
    const disable = await t.app.inject({
      method: 'POST',
      url: `/admin/organizations/${tenantId}/applications/affiliate/toggle`,
      headers: bearer(key),
      payload: { isEnabled: false },
    });
    expect(disable.statusCode).toBe(200);
    const enable = (skipHistoricalSync: boolean) =>
      t.app.inject({
        method: 'POST',
        url: `/admin/organizations/${tenantId}/applications/affiliate/toggle`,
        headers: bearer(key),
        payload: { isEnabled: true, skipHistoricalSync },
      });
    const refused = await enable(false);
    expect(refused.statusCode).toBe(429);
    expect(refused.json().message).toContain('TENANT_MAX_RUNS_PER_HOUR');
    const skipped = await enable(true);
    expect(skipped.statusCode).toBe(200);
    expect(skipped.json()).toMatchObject({ isEnabled: true, runId: null });
  });
});

describe("a tenant key's run that names no rate", () => {
  let t: ApiTestContext;
  let tenantId: string;
  let key: string;
  beforeAll(async () => {
    t = await createApiTestContext('quota-default-rate', {
      tenantQuotas: { maxEventsPerSecond: 1_000 },
    });
    ({ tenantId, key } = await tenantWithKey(t, 'default-rate'));
  });
  afterAll(async () => {
    await t.close();
  });

  const runRate = async (runId: string) =>
    (
      await t.db
        .selectFrom('backfill_runs')
        .select('max_events_per_second')
        .where('id', '=', runId)
        .executeTakeFirstOrThrow()
    ).max_events_per_second;

  it('runs at TENANT_MAX_EVENTS_PER_SECOND, not unlimited: from a sync and from an enable', async () => {
    const synced = await sync(t, tenantId, bearer(key), {});
    expect(synced.statusCode, synced.body).toBe(202);
    expect(await runRate(synced.json().runId)).toBe(1_000);

    const toggle = (isEnabled: boolean) =>
      t.app.inject({
        method: 'POST',
        url: `/admin/organizations/${tenantId}/applications/hr/toggle`,
        headers: bearer(key),
        payload: { isEnabled, skipHistoricalSync: false },
      });
    expect((await toggle(false)).statusCode).toBe(200);
    const enabled = await toggle(true);
    expect(enabled.statusCode, enabled.body).toBe(200);
    expect(await runRate(enabled.json().runId)).toBe(1_000);
  });

  it("leaves an admin key's run at the operator's default (unlimited here)", async () => {
    const admin = await sync(t, tenantId, auth, {}, 'affiliate');
    expect(admin.statusCode, admin.body).toBe(202);
    expect(await runRate(admin.json().runId)).toBeNull();
  });
});
