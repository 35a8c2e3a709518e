/**
 * Source protection against a real Postgres: competing clients' active backends over the
 * threshold pause a backfill's pages (the run's status says why) and it resumes at full speed
 * once they end; a probe slower than the latency threshold slows the pages without stopping them.
 */
import { HISTORICAL_EVENT_TYPE, streamName } from '@historical-sync/contracts';
import { createDb, seedTenant } from '@historical-sync/db';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { viewRun } from '../src/index';
import type { SourceProtection } from '../src/pacing/source-guard';
import { getRun } from '../src/runs/runs';
import { type BackfillTestContext, createBackfillTestContext } from '../src/testing';

const pageSize = 100;

async function startRun(t: BackfillTestContext, tenantName: string, memberships: number) {
  const { tenantId } = await seedTenant(t.db, {
    tenantName,
    organizations: 5,
    memberships,
    creditAllocations: 0,
    app: 'crm',
    seed: 11,
  });
  const run = await t.enableAndEnqueue(tenantId, { pageSize });
  return run.id;
}

async function membershipsView(t: BackfillTestContext, runId: string) {
  const run = await getRun(t.db, runId);
  if (!run) throw new Error('run missing');
  return viewRun(run).resources.memberships;
}

describe('source protection: competing active backends pause the pages', () => {
  const protection: SourceProtection = {
    latencyMs: null,
    maxActiveBackends: 2,
    maxLockWaits: null,
    probeIntervalMs: 50,
    apiLagMs: null,
  };
  let t: BackfillTestContext;
  beforeAll(async () => {
    t = await createBackfillTestContext('source_pause', { pageSize, sourceProtection: protection });
  });
  afterAll(async () => {
    await t.close();
  });

  it('pauses while three other clients keep backends active, resumes when they end', async () => {
    const workers = t.startWorkers();
    const guard = workers.sourceGuard;
    if (!guard) throw new Error('expected a source guard');
    // The competing load: three backends of another application, each busy in a query.
    const competing = createDb({ connectionString: t.databaseUrl, applicationName: 'other-app' });
    const busy = [1, 2, 3].map(() =>
      sql`SELECT pg_sleep(600)`.execute(competing).catch(() => undefined),
    );
    await expect
      .poll(
        async () =>
          (
            await sql<{ n: number }>`
              SELECT count(*)::int AS n FROM pg_stat_activity
              WHERE application_name = 'other-app' AND state = 'active'`.execute(t.db)
          ).rows[0]?.n,
        { interval: 20, timeout: 10_000 },
      )
      .toBe(3);

    const rows = 5_000;
    const runId = await startRun(t, 'paused-by-load', rows);
    const stream = streamName(HISTORICAL_EVENT_TYPE.memberships, 'crm', t.settings.streamPrefix);
    await expect
      .poll(async () => (await membershipsView(t, runId))?.throttled, {
        interval: 20,
        timeout: 20_000,
      })
      .toMatch(/^throttled by source load: 3 active backends > 2 \(for (under a second|\d+ s)\)$/);
    // Paused: past the page that may already have been past its check, nothing more goes out
    // while the probe goes on finding the load (ten more probes, whatever they take).
    const atPause = await t.redis.xlen(stream);
    const probesAtPause = guard.probes;
    await expect
      .poll(() => guard.probes, { interval: 20, timeout: 20_000 })
      .toBeGreaterThan(probesAtPause + 10);
    const later = await t.redis.xlen(stream);
    expect(later - atPause).toBeLessThanOrEqual(pageSize);
    expect(later).toBeLessThan(rows / 2);
    expect((await getRun(t.db, runId))?.status).toBe('running');
    expect(guard.throttledSeconds).toBeGreaterThan(0);

    // The load ends: the pages resume, the status clears, every row is published once.
    await sql`SELECT pg_terminate_backend(pid) FROM pg_stat_activity
      WHERE application_name = 'other-app'`.execute(t.db);
    await Promise.all(busy);
    await competing.destroy();
    expect((await t.waitForRun(runId, ['completed', 'failed'], 60_000)).status).toBe('completed');
    expect((await membershipsView(t, runId))?.throttled).toBeNull();
    const events = (await t.readEvents(stream)).filter((e) => e.runId === runId);
    expect(events).toHaveLength(rows);
    expect(new Set(events.map((e) => e.eventId)).size).toBe(rows);
  });
});

describe('source protection: a slow probe slows the pages', () => {
  let t: BackfillTestContext;
  beforeAll(async () => {
    // Any real round trip is slower than a microsecond: every probe finds the source slow.
    t = await createBackfillTestContext('source_slow', {
      pageSize,
      sourceProtection: {
        latencyMs: 0.001,
        maxActiveBackends: null,
        maxLockWaits: null,
        probeIntervalMs: 50,
        apiLagMs: null,
      },
    });
  });
  afterAll(async () => {
    await t.close();
  });

  it('publishes every page, each after the delay, and says why while running', async () => {
    const workers = t.startWorkers();
    const rows = 1_500;
    const runId = await startRun(t, 'slowed-by-latency', rows);
    await expect
      .poll(async () => (await membershipsView(t, runId))?.throttled ?? '', {
        interval: 20,
        timeout: 20_000,
      })
      .toMatch(
        /^throttled by source load: query latency \d+ ms > 0\.001 ms \(for (under a second|\d+ s)\)$/,
      );
    expect((await t.waitForRun(runId, ['completed', 'failed'], 60_000)).status).toBe('completed');
    // The pages after the first unhealthy probe waited (each in proportion to its own time: how
    // much depends on the machine's speed, so only that they did).
    expect(workers.sourceGuard?.throttledSeconds).toBeGreaterThan(0);
    const stream = streamName(HISTORICAL_EVENT_TYPE.memberships, 'crm', t.settings.streamPrefix);
    expect((await t.readEvents(stream)).filter((e) => e.runId === runId)).toHaveLength(rows);
  });
});
