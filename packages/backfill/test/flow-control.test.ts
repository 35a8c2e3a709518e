/**
 * Flow control: with a slow consumer group on the stream, a backfill never lets the group's
 * unacknowledged backlog grow past the bound (plus the page in flight), and still completes; a
 * job parked for it has mirrored its progress to Postgres first.
 */
import { HISTORICAL_EVENT_TYPE, streamName } from '@historical-sync/contracts';
import { seedTenant } from '@historical-sync/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getRun, toggleApplication } from '../src/index';
import { streamBacklog } from '../src/pacing/flow-control';
import { type BackfillTestContext, createBackfillTestContext } from '../src/testing';

describe('flow control', () => {
  const bound = 2_000;
  const pageSize = 100;
  let t: BackfillTestContext;
  beforeAll(async () => {
    t = await createBackfillTestContext('flow_control', { pageSize, maxStreamBacklog: bound });
    t.startWorkers();
  });
  afterAll(async () => {
    await t.close();
  });

  it('a backfill waiting for its consumers holds no worker slot: another tenant completes meanwhile', async () => {
    const waiting = await seedTenant(t.db, {
      tenantName: 'waiting',
      organizations: 5,
      memberships: 6_000,
      creditAllocations: 0,
      app: 'crm',
      seed: 7,
    });
    const stream = streamName(HISTORICAL_EVENT_TYPE.memberships, 'crm', t.settings.streamPrefix);
    // A consumer group that reads nothing: the run soon waits for it, with both its partitions.
    await t.redis.xgroup('CREATE', stream, 'asleep', '0', 'MKSTREAM');
    const { run } = await toggleApplication(t.db, t.barrier, {
      tenantId: waiting.tenantId,
      application: 'crm',
      isEnabled: true,
      skipHistoricalSync: false,
      pageSize,
      partitions: 2,
    });
    if (!run) throw new Error('expected a run');
    await t.queues.enqueueRun(run);
    await expect
      .poll(() => streamBacklog(t.redis, stream), { interval: 20, timeout: 20_000 })
      .toBeGreaterThan(bound);

    // Another tenant's run on the same queues (another application's streams, nobody lagging).
    const other = await seedTenant(t.db, {
      tenantName: 'other',
      organizations: 5,
      memberships: 300,
      creditAllocations: 10,
      app: 'hr',
      seed: 8,
    });
    const started = await toggleApplication(t.db, t.barrier, {
      tenantId: other.tenantId,
      application: 'hr',
      isEnabled: true,
      skipHistoricalSync: false,
      pageSize,
    });
    if (!started.run) throw new Error('expected a run');
    await t.queues.enqueueRun(started.run);
    expect((await t.waitForRun(started.run.id, ['completed', 'failed'], 20_000)).status).toBe(
      'completed',
    );
    expect((await t.waitForRun(run.id, ['running'])).status).toBe('running');
    // Parked, its jobs have mirrored every page they published: the status shows where they
    // stopped (nothing is published while the group lags, so both counts hold still).
    const mirrored = async () =>
      (await getRun(t.db, run.id))?.resources.find((r) => r.resource === 'memberships')?.published;
    const onStream = async () =>
      (await t.readEvents(stream)).filter((e) => e.runId === run.id).length;
    await expect
      .poll(async () => (await mirrored()) === (await onStream()), { timeout: 10_000 })
      .toBe(true);

    // The consumer goes away: the waiting run goes on and publishes every row once.
    await t.redis.xgroup('DESTROY', stream, 'asleep');
    expect((await t.waitForRun(run.id, ['completed', 'failed'], 30_000)).status).toBe('completed');
    const ofRun = (await t.readEvents(stream)).filter((e) => e.runId === run.id);
    expect(ofRun).toHaveLength(6_000);
    expect(new Set(ofRun.map((e) => e.eventId)).size).toBe(6_000);
    await t.redis.del(stream);
  });

  it('keeps a slow consumer group within the backlog bound', async () => {
    const rows = 15_000;
    const { tenantId } = await seedTenant(t.db, {
      tenantName: 'slow',
      organizations: 10,
      memberships: rows,
      creditAllocations: 0,
      app: 'crm',
      seed: 6,
    });
    const stream = streamName(HISTORICAL_EVENT_TYPE.memberships, 'crm', t.settings.streamPrefix);
    await t.redis.xgroup('CREATE', stream, 'slow-crm', '0', 'MKSTREAM');

    // The slow consumer: 200 entries every 40 ms, about 5,000 a second. It starts once the
    // backlog is half the bound, so the producer meets the bound however fast each side runs on a
    // busy machine (a consumer that kept up would leave nothing to bound).
    let consuming = true;
    const consumer = (async () => {
      const reader = t.redis.duplicate();
      while (consuming && (await streamBacklog(t.redis, stream)) < bound / 2) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      while (consuming) {
        const reply = (await reader.xreadgroup(
          'GROUP',
          'slow-crm',
          'c1',
          'COUNT',
          200,
          'STREAMS',
          stream,
          '>',
        )) as [string, [string, string[]][]][] | null;
        const ids = reply?.[0]?.[1].map(([id]) => id) ?? [];
        if (ids.length) await reader.xack(stream, 'slow-crm', ...ids);
        await new Promise((resolve) => setTimeout(resolve, 40));
      }
      reader.disconnect();
    })();

    const run = await t.enableAndEnqueue(tenantId, { pageSize });
    let largest = 0;
    let samples = 0;
    for (;;) {
      largest = Math.max(largest, await streamBacklog(t.redis, stream));
      samples += 1;
      const status = (
        await t.db
          .selectFrom('backfill_runs')
          .select('status')
          .where('id', '=', run.id)
          .executeTakeFirstOrThrow()
      ).status;
      if (status === 'completed' || status === 'failed') break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    consuming = false;
    await consumer;

    expect((await t.waitForRun(run.id)).status).toBe('completed');
    expect(samples).toBeGreaterThan(50); // the run took a while: the consumer, not the producer, set the pace
    expect(largest).toBeGreaterThan(bound / 2);
    // One page may land between a check and the publish it allows.
    expect(largest).toBeLessThanOrEqual(bound + pageSize + 2);
    expect((await t.readEvents(stream)).length).toBe(rows);
  });
});
