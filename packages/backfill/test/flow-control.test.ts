/**
 * Flow control: with a slow consumer group on the stream, a backfill never lets the group's
 * unacknowledged backlog grow past the bound (plus the page in flight), and still completes.
 */
import { HISTORICAL_EVENT_TYPE, streamName } from '@historical-sync/contracts';
import { seedTenant } from '@historical-sync/db';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { streamBacklog, waitForBacklog } from '../src/flow-control';
import { toggleApplication } from '../src/index';
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

  it('reports no wait when the backlog is within the bound (the check itself is not a wait)', async () => {
    const stream = `${t.settings.streamPrefix}within-bound`;
    await t.redis.xgroup('CREATE', stream, 'g', '$', 'MKSTREAM');
    await t.redis.xadd(stream, '*', 'event', '{}');
    // A Redis a few milliseconds away, as over a network.
    const distant = new Proxy(t.redis, {
      get: (target, property, receiver) =>
        property === 'xinfo'
          ? async (...args: unknown[]) => {
              await new Promise((resolve) => setTimeout(resolve, 5));
              return (target.xinfo as (...a: unknown[]) => Promise<unknown>)(...args);
            }
          : Reflect.get(target, property, receiver),
    }) as Redis;
    expect(await streamBacklog(distant, stream)).toBe(1);
    expect(await waitForBacklog(distant, stream, bound, () => false)).toBe(0);
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

    // The slow consumer: 200 entries every 40 ms, about 5,000 a second.
    let consuming = true;
    const consumer = (async () => {
      const reader = t.redis.duplicate();
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

    const { run } = await toggleApplication(t.db, {
      tenantId,
      application: 'crm',
      isEnabled: true,
      skipHistoricalSync: false,
      pageSize,
    });
    if (!run) throw new Error('expected a run');
    await t.queues.enqueueRun(run);
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
