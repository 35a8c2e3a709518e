/**
 * The sweeper gives a running run whose jobs Redis lost (restarted without AOF, flushed) its flow
 * again: with its checkpoints the run resumes and completes exactly once; without them it fails
 * loudly rather than publishing pages twice.
 */
import { sweepRuns } from '@historical-sync/backfill';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiTestContext, createApiTestContext, startMembershipsSync } from './helpers';

describe('sweeper: runs whose jobs Redis lost', () => {
  let t: ApiTestContext;
  beforeAll(async () => {
    t = await createApiTestContext('sweeper', { settings: { pageSize: 50 } });
  });
  afterAll(async () => {
    await t.close();
  });

  const MEMBERSHIPS = 4_000;

  /** Starts a memberships-only run and stops its worker once part of it is published. */
  const startAndInterrupt = async (name: string) => {
    const { tenantId, runId } = await startMembershipsSync(t, name, MEMBERSHIPS, {
      maxEventsPerSecond: 4_000,
    });
    const workers = t.startWorkers();
    const stream = t.streams('crm').memberships;
    const ownEvents = async () =>
      (await t.readEvents(stream)).filter((e) => e.tenantId === tenantId);
    await expect
      .poll(async () => (await ownEvents()).length, { timeout: 20_000, interval: 20 })
      .toBeGreaterThan(500);
    await workers.close();
    // Redis loses every job of the queues; streams (and, in the first case, checkpoints) remain.
    for (const queue of t.queues.all()) {
      const jobKeys = await t.redis.keys(`${t.settings.queuePrefix}:${queue.name}:*`);
      await t.redis.del(...jobKeys);
    }
    expect(await t.queues.runs.getJob(runId)).toBeUndefined();
    expect(
      (
        await t.db
          .selectFrom('backfill_runs')
          .select('status')
          .where('id', '=', runId)
          .executeTakeFirstOrThrow()
      ).status,
    ).toBe('running');
    return { runId, ownEvents };
  };

  it('re-enqueues a running run with no job; it resumes from its checkpoint, exactly once', async () => {
    const { runId, ownEvents } = await startAndInterrupt('lost-jobs');
    expect(await sweepRuns(t.db, t.queues, 0)).toBe(1);
    expect(await sweepRuns(t.db, t.queues, 0)).toBe(0); // its job exists now
    const workers = t.startWorkers();
    const run = await t.waitForRun(runId, ['completed', 'failed'], 60_000);
    await workers.close();
    expect(run.status).toBe('completed');
    const events = await ownEvents();
    expect(events).toHaveLength(MEMBERSHIPS);
    expect(new Set(events.map((e) => e.eventId)).size).toBe(MEMBERSHIPS);
  });

  it('fails the run with the reason, publishing nothing again, when the checkpoints are lost too', async () => {
    const { runId, ownEvents } = await startAndInterrupt('lost-everything');
    const before = (await ownEvents()).length;
    const checkpoints = await t.redis.keys(`*:checkpoint:${runId}:*`);
    expect(checkpoints.length).toBeGreaterThan(0);
    await t.redis.del(...checkpoints);

    expect(await sweepRuns(t.db, t.queues, 0)).toBe(1);
    const workers = t.startWorkers();
    const run = await t.waitForRun(runId, ['completed', 'failed'], 60_000);
    await workers.close();
    expect(run.status).toBe('failed');
    expect(run.last_error).toMatch(/checkpoint .* is missing although pages were published/);
    expect((await ownEvents()).length).toBe(before);
  });
});
