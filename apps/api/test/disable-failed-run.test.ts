/**
 * Disable holds for a failed run too. A run whose organizations job fails on a bad row is
 * `failed` while its memberships job goes on publishing; once the disable has answered, no entry
 * of that run reaches any stream, a retry while disabled is refused and publishes nothing, and
 * enabling again starts a new run that brings the application exactly up to date, changes made
 * while it was disabled included (the oracle is SQL: one event per row at its current version).
 */
import { seedTenant } from '@historical-sync/db';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiTestContext, auth, createApiTestContext, runStatus } from './helpers';

describe('disable of an application whose run failed', () => {
  let t: ApiTestContext;
  beforeAll(async () => {
    // A rate cap keeps the memberships job publishing well after the organizations job failed.
    t = await createApiTestContext('disable_failed_run', {
      settings: { maxEventsPerSecond: 1_500, pageSize: 50 },
    });
    t.startWorkers();
  });
  afterAll(async () => {
    await t.close();
  });

  const post = (url: string, payload: object = {}) =>
    t.app.inject({ method: 'POST', url, headers: auth, payload });
  const toggle = (tenantId: string, isEnabled: boolean) =>
    post(`/admin/organizations/${tenantId}/applications/crm/toggle`, {
      isEnabled,
      skipHistoricalSync: false,
    });
  const streams = () => Object.values(t.streams('crm'));

  /** Every entry id on the application's streams, with the run that published it. */
  const entries = async () => {
    const found: { stream: string; id: string; runId: string | undefined; eventId: string }[] = [];
    for (const stream of streams()) {
      for (const [id, fields] of await t.redis.xrange(stream, '-', '+')) {
        const event = JSON.parse(fields[1] as string) as { runId?: string; eventId: string };
        found.push({ stream, id, runId: event.runId, eventId: event.eventId });
      }
    }
    return found;
  };

  /** No job of the run is active or waiting: nothing of it is in flight. */
  const jobsAtRest = async (runId: string) => {
    for (const queue of Object.values(t.queues.resources)) {
      for (const job of await queue.getJobs(['active', 'waiting', 'prioritized', 'delayed'])) {
        if ((job.data as { runId?: string }).runId === runId) return false;
      }
    }
    return true;
  };

  /** The events a complete run of crm publishes for the tenant now, by SQL. */
  const expectedEventIds = async (tenantId: string) => {
    const { rows } = await sql<{ event_id: string }>`
      SELECT 'organization:' || id || ':v' || version AS event_id FROM entities
        WHERE tenant_id = ${tenantId} AND entity_type = 'organization'
      UNION ALL
      SELECT 'membership:' || id || ':v' || version FROM organization_memberships
        WHERE tenant_id = ${tenantId} AND is_active
      UNION ALL
      SELECT 'credit:' || id || ':v' || version FROM credit_allocations
        WHERE tenant_id = ${tenantId} AND target_application = 'crm' AND is_active
    `.execute(t.db);
    return rows.map((r) => r.event_id).sort();
  };

  it('publishes nothing of the failed run after the disable, refuses its retry, and a new enable brings the application up to date', async () => {
    const { tenantId } = await seedTenant(t.db, {
      tenantName: 'failed-then-disabled',
      organizations: 60,
      memberships: 6_000,
      creditAllocations: 40,
      app: 'crm',
      seed: 24,
    });
    // The last organization in id order has no name: its page fails the organizations job.
    const bad = await t.db
      .selectFrom('entities')
      .select('id')
      .where('tenant_id', '=', tenantId)
      .where('entity_type', '=', 'organization')
      .orderBy('id', 'desc')
      .limit(1)
      .executeTakeFirstOrThrow();
    await t.db.updateTable('entities').set({ name: '' }).where('id', '=', bad.id).execute();

    const enabled = await toggle(tenantId, true);
    expect(enabled.statusCode, enabled.body).toBe(200);
    const runId = enabled.json().runId as string;
    await expect.poll(() => runStatus(t, runId), { timeout: 20_000 }).toBe('failed');
    // Its memberships job is publishing, and has more to publish: the case this test is about.
    const memberships = () =>
      t.db
        .selectFrom('backfill_run_resources')
        .select(['status', 'published', 'total'])
        .where('run_id', '=', runId)
        .where('resource', '=', 'memberships')
        .executeTakeFirstOrThrow();
    await expect
      .poll(async () => (await memberships()).published, { timeout: 20_000 })
      .toBeGreaterThan(0);
    expect((await memberships()).status).not.toBe('completed');

    const disabled = await toggle(tenantId, false);
    expect(disabled.statusCode, disabled.body).toBe(200);
    const atAnswer = new Set((await entries()).map((e) => `${e.stream} ${e.id}`));
    expect(await runStatus(t, runId)).toBe('cancelled');

    // The retry is refused while disabled, and changes nothing.
    const retried = await post(`/admin/organizations/${tenantId}/sync-runs/${runId}/retry`);
    expect(retried.statusCode, retried.body).toBe(409);
    expect(await runStatus(t, runId)).toBe('cancelled');

    await expect.poll(() => jobsAtRest(runId), { timeout: 20_000 }).toBe(true);
    const after = (await entries()).filter((e) => !atAnswer.has(`${e.stream} ${e.id}`));
    expect(after).toEqual([]);

    // While disabled, rows change: one already published, and the bad one is fixed.
    const published = (await entries()).find((e) => e.eventId.startsWith('membership:'));
    if (!published) throw new Error('the failed run published no membership');
    const membershipId = published.eventId.split(':')[1] as string;
    await sql`UPDATE organization_memberships SET role = 'changed-while-disabled' WHERE id = ${membershipId}`.execute(
      t.db,
    );
    await t.db.updateTable('entities').set({ name: 'Fixed' }).where('id', '=', bad.id).execute();

    const again = await toggle(tenantId, true);
    expect(again.statusCode, again.body).toBe(200);
    const newRunId = again.json().runId as string;
    expect(newRunId).toBeTruthy();
    expect(newRunId).not.toBe(runId);
    expect(
      (await t.waitForRun(newRunId, ['completed', 'failed', 'cancelled'], 60_000)).status,
    ).toBe('completed');

    const newRunEvents = (await entries())
      .filter((e) => e.runId === newRunId && !e.eventId.startsWith('run:'))
      .map((e) => e.eventId)
      .sort();
    expect(newRunEvents).toEqual(await expectedEventIds(tenantId));
    expect(newRunEvents.some((id) => id.startsWith(`membership:${membershipId}:`))).toBe(true);
    // And still nothing more of the cancelled run.
    expect(
      (await entries()).filter((e) => e.runId === runId && !atAnswer.has(`${e.stream} ${e.id}`)),
    ).toEqual([]);
  });
});
