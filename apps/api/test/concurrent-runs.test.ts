/**
 * Many clients at once on one tenant: manual syncs and toggles race each other and runs that
 * complete within milliseconds (a small tenant, workers running). No request may fail with a 5xx
 * (a run that ended between a lost insert and the read of the winner was one), and the tenant
 * never has more than one active run.
 */
import { seedTenant } from '@historical-sync/db';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiTestContext, auth, createApiTestContext } from './helpers';

const ROUNDS = Number(process.env.CONCURRENT_ROUNDS ?? 10);
const REQUESTS_PER_ROUND = 50;
/** Between the starts of a round's requests. */
const SPREAD_MS = 3;

describe('concurrent sync-historical and toggle requests on one tenant', () => {
  let t: ApiTestContext;
  let tenantId: string;

  beforeAll(async () => {
    t = await createApiTestContext('concurrent_runs');
    t.startWorkers();
    ({ tenantId } = await seedTenant(t.db, {
      tenantName: 'concurrent',
      organizations: 2,
      memberships: 4,
      creditAllocations: 1,
      app: 'crm',
      seed: 6,
    }));
    const enabled = await t.app.inject({
      method: 'POST',
      url: `/admin/organizations/${tenantId}/applications/crm/toggle`,
      headers: auth,
      payload: { isEnabled: true, skipHistoricalSync: true },
    });
    expect(enabled.statusCode).toBe(200);
  });
  afterAll(async () => {
    await t.close();
  });

  /** The i-th request of a round: mostly manual syncs, with a disable and an enable in ten. */
  const request = (i: number) => {
    const base = `/admin/organizations/${tenantId}/applications/crm`;
    if (i % 10 === 3) return { url: `${base}/toggle`, payload: { isEnabled: false } };
    if (i % 10 === 7) return { url: `${base}/toggle`, payload: { isEnabled: true } };
    return { url: `${base}/sync-historical`, payload: {} };
  };
  const activeRuns = async () => {
    const { rows } = await sql<{ n: number }>`
      SELECT count(*)::int AS n FROM backfill_runs
      WHERE tenant_id = ${tenantId} AND status IN ('queued', 'running', 'paused')
    `.execute(t.db);
    return rows[0]?.n ?? 0;
  };

  it(`answers no 5xx over ${ROUNDS} rounds of ${REQUESTS_PER_ROUND}, with at most one active run at any time`, async () => {
    const statuses = new Map<number, number>();
    const activeSeen: number[] = [];
    // The races must happen: syncs that start a run (202) and syncs that meet one (200). Which
    // of them a round sees depends on how fast runs end, so rounds go on (up to five times as
    // many) until both have been seen.
    const bothSeen = () => (statuses.get(202) ?? 0) > 0 && (statuses.get(200) ?? 0) > 0;
    for (let round = 0; round < ROUNDS || (!bothSeen() && round < ROUNDS * 5); round++) {
      let settled = false;
      // Starts spread over a few hundred milliseconds, so requests overlap runs that start and
      // end (a burst at one instant would mostly meet one run and one enablement state).
      const responses = Promise.all(
        Array.from({ length: REQUESTS_PER_ROUND }, async (_, i) => {
          await new Promise((resolve) => setTimeout(resolve, i * SPREAD_MS));
          return t.app.inject({ method: 'POST', headers: auth, ...request(i) });
        }),
      ).finally(() => {
        settled = true;
      });
      // Poll the runs table for as long as the round's requests are in flight.
      do activeSeen.push(await activeRuns());
      while (!settled);
      for (const response of await responses) {
        statuses.set(response.statusCode, (statuses.get(response.statusCode) ?? 0) + 1);
        expect(response.statusCode, response.body).toBeLessThan(500);
      }
      activeSeen.push(await activeRuns());
      // The round ends on an enable, whose run then completes: the next round's first syncs
      // find none and start one, the later ones find it.
      await expect.poll(activeRuns, { interval: 20, timeout: 30_000 }).toBe(0);
    }

    // Syncs answer 202 (started a run), 200 (the active one) or 409 (just disabled); toggles 200.
    expect([...statuses.keys()].filter((s) => ![200, 202, 409].includes(s))).toEqual([]);
    expect(Math.max(...activeSeen)).toBeLessThanOrEqual(1);
    // The races happened: runs were started and ended within rounds, and requests found them.
    const { rows } = await sql<{ n: number }>`
      SELECT count(*)::int AS n FROM backfill_runs WHERE tenant_id = ${tenantId}
    `.execute(t.db);
    expect(rows[0]?.n ?? 0).toBeGreaterThan(1);
    expect(statuses.get(202) ?? 0, JSON.stringify([...statuses])).toBeGreaterThan(0);
    expect(statuses.get(200) ?? 0).toBeGreaterThan(0);
  });
});
