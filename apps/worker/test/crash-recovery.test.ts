/**
 * A worker process killed with SIGKILL in the middle of a run, then a new one started: the run
 * completes and every row's event is on its stream exactly once.
 */
import {
  type BackfillTestContext,
  createBackfillTestContext,
} from '@historical-sync/backfill/testing';
import { HISTORICAL_EVENT_TYPE, type Resource, streamName } from '@historical-sync/contracts';
import { seedTenant } from '@historical-sync/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killWorker, spawnWorker, type WorkerProcess } from './worker-process';

/** 20,000 rows through real worker processes: generous on a machine busy with other work. */
const TEST_TIMEOUT_MS = 180_000;

describe('worker killed mid-run', () => {
  let t: BackfillTestContext;
  const workers: WorkerProcess[] = [];
  beforeAll(async () => {
    t = await createBackfillTestContext('crash_recovery', { pageSize: 50 });
  });
  afterAll(async () => {
    await Promise.all(workers.map(killWorker));
    await t.close();
  });

  it('completes after a restart with every row published exactly once', {
    timeout: TEST_TIMEOUT_MS,
  }, async () => {
    const rows = { organizations: 500, memberships: 20_000, creditAllocations: 1_000 };
    const { tenantId } = await seedTenant(t.db, {
      tenantName: 'big',
      app: 'crm',
      seed: 9,
      ...rows,
    });
    const run = await t.enableAndEnqueue(tenantId);
    const stream = (resource: Resource) =>
      streamName(HISTORICAL_EVENT_TYPE[resource], 'crm', t.settings.streamPrefix);
    const [credits, organizations, memberships] = [
      stream('credits'),
      stream('organizations'),
      stream('memberships'),
    ];

    const first = spawnWorker(t.env);
    workers.push(first);
    await first.ready();
    // Kill it once it is well into the memberships, mid-run.
    await expect
      .poll(() => t.redis.xlen(memberships), { timeout: 60_000, interval: 5 })
      .toBeGreaterThan(2_000);
    first.child.kill('SIGKILL');
    await first.exited;
    const publishedAtKill = await t.redis.xlen(memberships);
    expect(publishedAtKill).toBeLessThan(rows.memberships);
    expect((await t.waitForRun(run.id, ['running'])).status).toBe('running');

    const second = spawnWorker(t.env);
    workers.push(second);
    await second.ready();
    const finished = await t.waitForRun(run.id, ['completed', 'failed'], 120_000);
    expect(finished.status, second.output()).toBe('completed');
    expect(first.output()).toMatch(/Starting historical sync for tenant/);
    // The run's row is marked completed before the worker logs it: wait for the lines.
    await second.waitForOutput(/resuming after the last published page/);
    await second.waitForOutput(/Historical sync completed for tenant/);

    for (const [stream, expected] of [
      [credits, rows.creditAllocations],
      [organizations, rows.organizations],
      [memberships, rows.memberships],
    ] as const) {
      const events = await t.readEvents(stream);
      expect(events).toHaveLength(expected);
      expect(new Set(events.map((e) => e.eventId)).size).toBe(expected);
      expect(events.every((e) => e.runId === run.id)).toBe(true);
    }
    expect(finished.resources.map((r) => [r.resource, r.published])).toEqual([
      ['credits', rows.creditAllocations],
      ['memberships', rows.memberships],
      ['organizations', rows.organizations],
    ]);

    second.child.kill('SIGTERM');
    expect((await second.exited).code).toBe(0);
  });

  it('stops cleanly on SIGTERM mid-run, handing the job back, and a restart completes it exactly once', {
    timeout: TEST_TIMEOUT_MS,
  }, async () => {
    const rows = { organizations: 10, memberships: 20_000, creditAllocations: 10 };
    const { tenantId } = await seedTenant(t.db, {
      tenantName: 'term',
      app: 'hr',
      seed: 10,
      ...rows,
    });
    const run = await t.enableAndEnqueue(tenantId, { application: 'hr' });
    const memberships = streamName('org.assignment.created', 'hr', t.settings.streamPrefix);

    const first = spawnWorker(t.env);
    workers.push(first);
    await first.ready();
    await expect
      .poll(() => t.redis.xlen(memberships), { timeout: 60_000, interval: 5 })
      .toBeGreaterThan(2_000);
    const stoppingAt = Date.now();
    first.child.kill('SIGTERM');
    expect(await first.exited).toEqual({ code: 0, signal: null });
    // Well inside the 30 s a stop may take, even on a busy machine.
    expect(Date.now() - stoppingAt).toBeLessThan(10_000);
    expect(first.output()).toMatch(/job handed back after the current page/);
    expect(await t.redis.xlen(memberships)).toBeLessThan(rows.memberships);
    // Handed back, not failed: no attempt was used up.
    const job = await t.queues.resources.memberships.getJob(`${run.id}-memberships`);
    expect(await job?.getState()).toBe('waiting');
    expect(job?.attemptsMade).toBe(0);

    const second = spawnWorker(t.env);
    workers.push(second);
    await second.ready();
    expect((await t.waitForRun(run.id, ['completed', 'failed'], 120_000)).status).toBe('completed');
    const events = await t.readEvents(memberships);
    expect(events).toHaveLength(rows.memberships);
    expect(new Set(events.map((e) => e.eventId)).size).toBe(rows.memberships);
    second.child.kill('SIGTERM');
    expect((await second.exited).code).toBe(0);
  });
});
