/**
 * Fair scheduling and load: a big tenant's backfill takes turns with the others instead of
 * holding a worker to its end, and 200 tenants enabling at once all complete, each exactly once.
 * LOAD_TENANTS / LOAD_BIG_MEMBERSHIPS make the larger run (`npm run test:load`).
 */
import { type SeedResult, seedTenant } from '@historical-sync/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiTestContext, auth, createApiTestContext } from './helpers';

const TENANTS = Number(process.env.LOAD_TENANTS ?? 200);
const BIG_MEMBERSHIPS = Number(process.env.LOAD_BIG_MEMBERSHIPS ?? 40_000);

async function seedSmall(t: ApiTestContext, name: string) {
  return seedTenant(t.db, {
    tenantName: name,
    organizations: 5,
    memberships: 20,
    creditAllocations: 3,
    app: 'crm',
    seed: 7,
  });
}

async function seedBig(t: ApiTestContext, name: string, memberships: number) {
  return seedTenant(t.db, {
    tenantName: name,
    organizations: 20,
    memberships,
    creditAllocations: 5,
    app: 'crm',
    seed: 8,
  });
}

async function enable(t: ApiTestContext, tenantId: string): Promise<string> {
  const response = await t.app.inject({
    method: 'POST',
    url: `/admin/organizations/${tenantId}/applications/crm/toggle`,
    headers: auth,
    payload: { isEnabled: true },
  });
  expect(response.statusCode, response.body).toBe(200);
  return response.json().runId;
}

/** When each run finished, waiting until all have. */
async function finishTimes(t: ApiTestContext, runIds: string[], timeoutMs: number) {
  const finished = new Map<string, number>();
  for (const runId of runIds) {
    const run = await t.waitForRun(runId, ['completed', 'failed', 'cancelled'], timeoutMs);
    expect({ runId, status: run.status, error: run.last_error }).toEqual({
      runId,
      status: 'completed',
      error: null,
    });
    finished.set(runId, run.finished_at?.getTime() ?? Number.NaN);
  }
  return finished;
}

/** Per tenant, the events each stream holds: every row once (count = distinct eventIds). */
async function eventsPerTenant(t: ApiTestContext) {
  const streams = t.streams('crm');
  const perTenant = new Map<string, { events: number; distinct: Set<string> }>();
  for (const stream of [streams.credits, streams.organizations, streams.memberships]) {
    for (const event of await t.readEvents(stream)) {
      const entry = perTenant.get(event.tenantId) ?? { events: 0, distinct: new Set<string>() };
      entry.events += 1;
      entry.distinct.add(event.eventId);
      perTenant.set(event.tenantId, entry);
    }
  }
  return perTenant;
}

/** Every seeded row is active, so each is one historical event. */
const seededEvents = (seeded: SeedResult) =>
  seeded.organizations + seeded.memberships + seeded.creditAllocations;

describe.each([
  { timeSliceMs: 0, smallFinishFirst: false },
  { timeSliceMs: 100, smallFinishFirst: true },
])(
  'one worker slot, a big tenant first, then small ones (time slice $timeSliceMs ms)',
  ({ timeSliceMs, smallFinishFirst }) => {
    let t: ApiTestContext;
    beforeAll(async () => {
      t = await createApiTestContext(`fair_${timeSliceMs}`, {
        settings: { timeSliceMs, pageSize: 50 },
      });
    });
    afterAll(async () => {
      await t.close();
    });

    it(smallFinishFirst
      ? 'small tenants finish while the big one takes turns, and the big one still completes once'
      : 'without turns the big tenant holds the slot to its end (the control case)', {
      timeout: 120_000,
    }, async () => {
      const big = await seedBig(t, 'big', 10_000);
      const small = await Promise.all([1, 2, 3, 4, 5].map((i) => seedSmall(t, `small-${i}`)));
      const bigRun = await enable(t, big.tenantId);
      // The big tenant's jobs are queued first.
      await expect
        .poll(() => t.queues.resources.memberships.getJobCounts('waiting'))
        .toEqual({
          waiting: 1,
        });
      const smallRuns = [];
      for (const tenant of small) smallRuns.push(await enable(t, tenant.tenantId));
      t.startWorkers({ concurrency: 1 });

      const finished = await finishTimes(t, [bigRun, ...smallRuns], 60_000);
      const bigDone = finished.get(bigRun) ?? 0;
      const smallDone = smallRuns.map((runId) => finished.get(runId) ?? 0);
      expect(smallDone.every((done) => done < bigDone)).toBe(smallFinishFirst);

      const perTenant = await eventsPerTenant(t);
      for (const tenant of [big, ...small]) {
        const got = perTenant.get(tenant.tenantId);
        expect(got?.events).toBe(seededEvents(tenant));
        expect(got?.distinct.size).toBe(seededEvents(tenant));
      }
    });
  },
);

describe(`${TENANTS} tenants enabling at once`, () => {
  let t: ApiTestContext;
  beforeAll(async () => {
    t = await createApiTestContext('load', { settings: { timeSliceMs: 200, pageSize: 100 } });
  });
  afterAll(async () => {
    await t.close();
  });

  it('completes every run exactly once, no small tenant waits for the big ones', {
    timeout: 600_000,
  }, async () => {
    const bigs = [
      await seedBig(t, 'big-1', BIG_MEMBERSHIPS),
      await seedBig(t, 'big-2', BIG_MEMBERSHIPS),
    ];
    const small = [];
    for (let i = 0; i < TENANTS - bigs.length; i++) small.push(await seedSmall(t, `tenant-${i}`));
    const tenants = [...bigs, ...small];

    const startedAt = Date.now();
    // All at once (the big ones win the race for the queue's front more often than not).
    const runIds = await Promise.all(tenants.map((tenant) => enable(t, tenant.tenantId)));
    expect(new Set(runIds).size).toBe(TENANTS);
    t.startWorkers({ concurrency: 2 });
    const finished = await finishTimes(t, runIds, 300_000);
    const drainedMs = Date.now() - startedAt;

    const perTenant = await eventsPerTenant(t);
    let expected = 0;
    let delivered = 0;
    let duplicates = 0;
    for (const tenant of tenants) {
      const got = perTenant.get(tenant.tenantId);
      expected += seededEvents(tenant);
      delivered += got?.distinct.size ?? 0;
      duplicates += (got?.events ?? 0) - (got?.distinct.size ?? 0);
      expect(got?.distinct.size).toBe(seededEvents(tenant));
    }
    expect(duplicates).toBe(0);
    expect(delivered).toBe(expected);

    // None starves: every small tenant is done before the big ones are.
    const bigDone = Math.min(...runIds.slice(0, bigs.length).map((id) => finished.get(id) ?? 0));
    const smallLatencies = runIds
      .slice(bigs.length)
      .map((id) => (finished.get(id) ?? Number.POSITIVE_INFINITY) - startedAt)
      .sort((a, b) => a - b);
    expect(smallLatencies.every((ms) => startedAt + ms < bigDone)).toBe(true);
    const pct = (p: number) =>
      smallLatencies[Math.min(smallLatencies.length - 1, Math.floor(p * smallLatencies.length))];
    console.log(
      `load: ${TENANTS} tenants (2 with ${BIG_MEMBERSHIPS} memberships), ${expected} events: ` +
        `drained in ${drainedMs} ms; small tenants done after p50 ${pct(0.5)} ms, p99 ${pct(0.99)} ms, ` +
        `max ${smallLatencies.at(-1)} ms; big tenants done after ${bigDone - startedAt} ms; ` +
        `delivered ${delivered}, duplicates ${duplicates}, losses ${expected - delivered}`,
    );
  });
});
