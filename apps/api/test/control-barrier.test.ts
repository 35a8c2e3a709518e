/**
 * A control is a barrier: once pause, cancel or disable has answered, no entry of that run reaches
 * any stream. Runs of every resource with varied page sizes and partitions, on two sets of
 * workers, are stopped at random moments; the oracle is the streams themselves (every entry of
 * the run with an id after the last one present when the control answered). Paused runs are
 * resumed and must then hold every row exactly once.
 */

import { raiseRunBarrier } from '@historical-sync/backfill';
import { resourceJobId } from '@historical-sync/contracts';
import { seedTenant } from '@historical-sync/db';
import { seededRandom } from '@historical-sync/local-stack';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/app';
import { ADMIN_KEY, type ApiTestContext, auth, createApiTestContext } from './helpers';

const SEED = Number(process.env.BARRIER_SEED ?? Date.now() % 100_000);
const ROUNDS_PER_CONTROL = Number(process.env.BARRIER_ROUNDS ?? 3);

type Control = 'pause' | 'cancel' | 'disable';

describe(`control barrier (BARRIER_SEED=${SEED})`, () => {
  let t: ApiTestContext;
  const next = seededRandom(SEED);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)] as T;

  beforeAll(async () => {
    t = await createApiTestContext('control_barrier', { settings: { timeSliceMs: 300 } });
    // Two sets of workers, as two worker processes would be: jobs of one run move between them.
    t.startWorkers();
    t.startWorkers();
  });
  afterAll(async () => {
    await t.close();
  });

  const post = (url: string, payload: object = {}) =>
    t.app.inject({ method: 'POST', url, headers: auth, payload });
  const streams = () => Object.values(t.streams('crm'));

  /** The newest entry id of each stream now. */
  const lastIds = async () =>
    Object.fromEntries(
      await Promise.all(
        streams().map(async (stream) => {
          const [last] = await t.redis.xrevrange(stream, '+', '-', 'COUNT', 1);
          return [stream, last?.[0] ?? '0-0'] as const;
        }),
      ),
    );

  /** The run's entries (events and markers) on every stream after the given ids. */
  const entriesOfRunAfter = async (runId: string, after: Record<string, string>) => {
    const found: string[] = [];
    for (const stream of streams()) {
      for (const [id, fields] of await t.redis.xrange(stream, `(${after[stream]}`, '+')) {
        if ((JSON.parse(fields[1] as string) as { runId?: string }).runId === runId) {
          found.push(`${stream} ${id}`);
        }
      }
    }
    return found;
  };

  /** Every job of the run has left the workers (parked, finished): nothing is in flight. */
  const jobsAtRest = async (runId: string, partitions: number) => {
    for (const resource of ['credits', 'organizations', 'memberships'] as const) {
      for (let partition = 0; partition < partitions; partition += 1) {
        const id = resourceJobId(runId, resource, partition, partitions);
        const state = await (await t.queues.resources[resource].getJob(id))?.getState();
        if (state === 'active' || state === 'waiting' || state === 'prioritized') return false;
      }
    }
    return true;
  };

  const round = async (control: Control, index: number) => {
    const pageSize = pick([1, 7, 50, 400]);
    const partitions = pick([1, 2, 3]);
    const { tenantId } = await seedTenant(t.db, {
      tenantName: `${control}-${index}`,
      organizations: 150,
      memberships: 2_500,
      creditAllocations: 150,
      app: 'crm',
      seed: index,
    });
    const base = `/admin/organizations/${tenantId}`;
    await post(`${base}/applications/crm/toggle`, { isEnabled: true, skipHistoricalSync: true });
    const started = await post(`${base}/applications/crm/sync-historical`, {
      pageSize,
      partitions,
    });
    expect(started.statusCode, started.body).toBe(202);
    const runId = started.json().runId as string;
    const label = `${control} #${index} (pageSize ${pageSize}, partitions ${partitions})`;

    // A random moment: from before the first page to well into the run.
    const published = async () =>
      (
        await t.db
          .selectFrom('backfill_run_resources')
          .select((eb) => eb.fn.sum<number>('published').as('n'))
          .where('run_id', '=', runId)
          .executeTakeFirst()
      )?.n ?? 0;
    const target = Math.floor(next() * 1_500);
    await expect.poll(published, { interval: 5, timeout: 30_000 }).toBeGreaterThanOrEqual(target);

    const answer =
      control === 'disable'
        ? await post(`${base}/applications/crm/toggle`, { isEnabled: false })
        : await post(`${base}/sync-runs/${runId}/${control}`);
    const after = await lastIds();
    const run = await t.db
      .selectFrom('backfill_runs')
      .select('status')
      .where('id', '=', runId)
      .executeTakeFirstOrThrow();
    // The run may have ended before the control came: then there is nothing to stop.
    if (run.status === 'completed') return;
    expect(answer.statusCode, `${label}: ${answer.body}`).toBe(200);

    // Wait until every job of the run has come to rest, then look for anything published since.
    await expect.poll(() => jobsAtRest(runId, partitions), { timeout: 30_000 }).toBe(true);
    expect(await entriesOfRunAfter(runId, after), label).toEqual([]);
    if (control !== 'pause') {
      expect((await t.waitForRun(runId)).status).toBe('cancelled');
      expect(await entriesOfRunAfter(runId, after), label).toEqual([]);
      return;
    }

    // Resumed, the run completes with every row exactly once.
    expect((await post(`${base}/sync-runs/${runId}/resume`)).statusCode).toBe(200);
    const finished = await t.waitForRun(runId, ['completed', 'failed'], 60_000);
    expect(finished.status, label).toBe('completed');
    for (const resource of finished.resources) {
      const stream = t.streams('crm')[resource.resource];
      const ids = (await t.readEvents(stream))
        .filter((e) => e.runId === runId)
        .map((e) => e.eventId);
      expect(ids.length, `${label}: ${resource.resource}`).toBe(resource.total);
      expect(new Set(ids).size, `${label}: ${resource.resource}`).toBe(resource.total);
    }
  };

  for (const control of ['pause', 'cancel', 'disable'] as const) {
    it(`${control}: no entry of the run after the answer`, async () => {
      for (let index = 0; index < ROUNDS_PER_CONTROL; index += 1) {
        await round(control, index);
      }
    });
  }

  it('a control that cannot reach Redis answers 503 and changes nothing', async () => {
    const { tenantId } = await seedTenant(t.db, {
      tenantName: 'redis-away',
      organizations: 5,
      memberships: 10,
      creditAllocations: 0,
      app: 'crm',
      seed: 1,
    });
    const base = `/admin/organizations/${tenantId}`;
    await post(`${base}/applications/crm/toggle`, { isEnabled: true, skipHistoricalSync: true });
    const { runId } = (await post(`${base}/applications/crm/sync-historical`, {})).json();
    await t.waitForRun(runId, ['completed']);
    // The same API over a Redis that does not answer (nothing listens on port 1).
    const away = new Redis('redis://127.0.0.1:1', {
      maxRetriesPerRequest: null,
      lazyConnect: true,
    });
    away.on('error', () => {});
    const app = await buildApp({
      db: t.db,
      redis: away,
      queues: t.queues,
      settings: t.settings,
      logger: t.logger,
      adminApiKey: ADMIN_KEY,
      bodyLimitBytes: 64 * 1024,
      rateLimitPerMinute: 0,
      apiKeyCacheMs: 0,
      failedAuthPerMinute: 0,
    });
    try {
      const { runId: second } = (
        await post(`${base}/applications/crm/sync-historical`, { maxEventsPerSecond: 1 })
      ).json();
      const paused = await app.inject({
        method: 'POST',
        url: `${base}/sync-runs/${second}/pause`,
        headers: auth,
      });
      expect(paused.statusCode, paused.body).toBe(503);
      expect(paused.json().message).toMatch(/REDIS_URL/);
      expect((await t.waitForRun(second, ['queued', 'running'])).status).not.toBe('paused');
      const disabled = await app.inject({
        method: 'POST',
        url: `${base}/applications/crm/toggle`,
        headers: auth,
        payload: { isEnabled: false },
      });
      expect(disabled.statusCode, disabled.body).toBe(503);
      const enablement = await t.db
        .selectFrom('organization_applications')
        .select('is_enabled')
        .where('tenant_id', '=', tenantId)
        .executeTakeFirstOrThrow();
      expect(enablement.is_enabled).toBe(true);
      expect((await post(`${base}/sync-runs/${second}/cancel`)).statusCode).toBe(200);
    } finally {
      await app.close();
      away.disconnect();
    }
  });

  it('a barrier left by a control that rolled back is settled against Postgres: the run goes on', async () => {
    const { tenantId } = await seedTenant(t.db, {
      tenantName: 'rolled-back',
      organizations: 20,
      memberships: 300,
      creditAllocations: 20,
      app: 'crm',
      seed: 2,
    });
    const base = `/admin/organizations/${tenantId}`;
    await post(`${base}/applications/crm/toggle`, { isEnabled: true, skipHistoricalSync: true });
    // Paused in Redis by a control number Postgres never committed, before the run's first page.
    const { runId } = (
      await post(`${base}/applications/crm/sync-historical`, { maxEventsPerSecond: 50 })
    ).json();
    await raiseRunBarrier(
      t.barrier,
      { id: runId, appCode: 'crm', resources: ['credits', 'organizations', 'memberships'] },
      Number.MAX_SAFE_INTEGER - 1,
      'paused',
    );
    await t.db
      .updateTable('backfill_runs')
      .set({ max_events_per_second: null })
      .where('id', '=', runId)
      .execute();
    const finished = await t.waitForRun(runId, ['completed', 'failed', 'cancelled']);
    expect(finished.status).toBe('completed');
    for (const resource of finished.resources) {
      const ofRun = (await t.readEvents(t.streams('crm')[resource.resource])).filter(
        (e) => e.runId === runId,
      );
      expect(ofRun).toHaveLength(resource.total ?? -1);
    }
  });
});
