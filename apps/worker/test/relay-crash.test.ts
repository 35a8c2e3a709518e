/**
 * The relay killed with SIGKILL mid-batch and restarted: no event is lost, and an event delivered
 * twice (published, then killed before its row was marked) carries the same eventId both times.
 */
import { randomUUID } from 'node:crypto';
import { toggleApplication } from '@historical-sync/backfill';
import {
  type BackfillTestContext,
  createBackfillTestContext,
} from '@historical-sync/backfill/testing';
import { streamName, subjectIdOf } from '@historical-sync/contracts';
import { addMembership, createOrganization } from '@historical-sync/domain';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killWorker, spawnWorker, type WorkerProcess } from './worker-process';

describe('relay killed mid-batch', () => {
  let t: BackfillTestContext;
  const workers: WorkerProcess[] = [];
  beforeAll(async () => {
    t = await createBackfillTestContext('relay_crash');
  });
  afterAll(async () => {
    await Promise.all(workers.map(killWorker));
    await t.close();
  });

  const unpublished = async () =>
    (
      await t.db
        .selectFrom('outbox')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('published_at', 'is', null)
        .executeTakeFirstOrThrow()
    ).n;

  // 3,000 inserts and two worker processes: room for a machine busy with other work.
  it('loses no event and re-delivers with the same eventId', { timeout: 180_000 }, async () => {
    const tenantId = (
      await t.db
        .insertInto('tenants')
        .values({ name: 'relay-crash' })
        .returning('id')
        .executeTakeFirstOrThrow()
    ).id;
    await toggleApplication(t.db, t.barrier, {
      tenantId,
      application: 'crm',
      isEnabled: true,
      skipHistoricalSync: true,
      pageSize: 100,
    });
    const org = await createOrganization(t.db, tenantId, { code: 'org', name: 'Org' });
    const total = 3_000;
    for (let i = 0; i < total; i += 50) {
      await Promise.all(
        Array.from({ length: 50 }, () =>
          addMembership(t.db, tenantId, {
            userId: randomUUID(),
            organizationId: org.id,
            role: 'member',
          }),
        ),
      );
    }
    const stream = streamName('org.assignment.created', 'crm', t.settings.streamPrefix);
    const env = { ...t.env, WORKER_ROLES: 'relay', RELAY_BATCH_SIZE: '10' };

    const first = spawnWorker(env);
    workers.push(first);
    await first.ready();
    await expect
      .poll(() => t.redis.xlen(stream), { timeout: 30_000, interval: 5 })
      .toBeGreaterThan(500);
    first.child.kill('SIGKILL');
    await first.exited;
    expect(await unpublished()).toBeGreaterThan(0);

    const second = spawnWorker(env);
    workers.push(second);
    await second.ready();
    await expect.poll(unpublished, { timeout: 120_000, interval: 100 }).toBe(0);
    second.child.kill('SIGTERM');
    expect((await second.exited).code).toBe(0);

    const events = await t.readEvents(stream);
    expect(events.length).toBeGreaterThanOrEqual(total);
    const bySubject = new Map<string, Set<string>>();
    for (const event of events) {
      const ids = bySubject.get(subjectIdOf(event)) ?? new Set<string>();
      ids.add(event.eventId);
      bySubject.set(subjectIdOf(event), ids);
    }
    // Every membership arrived; any membership delivered twice had one eventId.
    expect(bySubject.size).toBe(total);
    expect([...bySubject.values()].every((ids) => ids.size === 1)).toBe(true);
  });
});
