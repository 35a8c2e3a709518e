/**
 * Run controls through the API: pause then resume loses and duplicates nothing; cancel stops
 * publishing; transitions are checked; a throttled run stays within its events-per-second limit.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiTestContext, auth, createApiTestContext, startMembershipsSync } from './helpers';

describe('run controls', () => {
  let t: ApiTestContext;
  beforeAll(async () => {
    t = await createApiTestContext('run_controls');
    t.startWorkers();
  });
  afterAll(async () => {
    await t.close();
  });

  const start = (name: string, memberships: number, body: object) =>
    startMembershipsSync(t, name, memberships, body);
  const control = (tenantId: string, runId: string, action: string) =>
    t.app.inject({
      method: 'POST',
      url: `/admin/organizations/${tenantId}/sync-runs/${runId}/${action}`,
      headers: auth,
    });
  const published = () => t.redis.xlen(t.streams('crm').memberships);
  const jobState = async (runId: string) =>
    (await t.queues.resources.memberships.getJob(`${runId}-memberships`))?.getState();

  it('pause stops publishing, resume finishes, and every row is published exactly once', async () => {
    const rows = 6_000;
    const { tenantId, runId } = await start('pause', rows, { pageSize: 20 });
    await expect.poll(published, { interval: 5, timeout: 20_000 }).toBeGreaterThan(500);
    const paused = await control(tenantId, runId, 'pause');
    expect(paused.statusCode, paused.body).toBe(200);
    expect(paused.json().status).toBe('paused');
    // Nothing after the answer: not even the page that was in flight.
    const atPause = await published();
    await expect.poll(() => jobState(runId), { interval: 20, timeout: 10_000 }).toBe('delayed');
    expect(await published()).toBe(atPause);
    expect(atPause).toBeLessThan(rows);

    expect((await control(tenantId, runId, 'resume')).json().status).toBe('running');
    expect((await t.waitForRun(runId, ['completed', 'failed'])).status).toBe('completed');
    const events = await t.readEvents(t.streams('crm').memberships);
    const ofRun = events.filter((e) => e.runId === runId);
    expect(ofRun).toHaveLength(rows);
    expect(new Set(ofRun.map((e) => e.eventId)).size).toBe(rows);
  });

  it('cancel stops publishing and the run ends cancelled', async () => {
    await t.redis.del(t.streams('crm').memberships);
    const rows = 6_000;
    const { tenantId, runId } = await start('cancel', rows, { pageSize: 20 });
    await expect.poll(published, { interval: 5, timeout: 20_000 }).toBeGreaterThan(300);
    expect((await control(tenantId, runId, 'cancel')).json().status).toBe('cancelled');
    const atCancel = await published();
    // The job stops at its next page or is removed with the run's other unprocessed jobs.
    await expect.poll(() => jobState(runId), { interval: 20, timeout: 10_000 }).not.toBe('active');
    expect(await published()).toBe(atCancel);
    expect(atCancel).toBeLessThan(rows);
    expect((await t.waitForRun(runId)).status).toBe('cancelled');
    const cancelledAgain = await control(tenantId, runId, 'resume');
    expect(cancelledAgain.statusCode).toBe(409);
    expect(cancelledAgain.json().message).toMatch(/cannot resume a cancelled run/);
  });

  it('checks transitions: a completed run cannot be paused, a running one not resumed', async () => {
    const { tenantId, runId } = await start('transitions', 10, {});
    await t.waitForRun(runId, ['completed']);
    const response = await control(tenantId, runId, 'pause');
    expect(response.statusCode).toBe(409);
    expect(response.json().message).toMatch(/cannot pause a completed run/);
    expect(
      (await control(tenantId, '00000000-0000-4000-8000-000000000000', 'pause')).statusCode,
    ).toBe(404);
  });

  it('pauses and cancels a slowly throttled run without waiting out the throttle', async () => {
    await t.redis.del(t.streams('crm').memberships);
    // 100 events per page at 20 events/s: each page after the first waits 5 s.
    const { tenantId, runId } = await start('slow-throttle', 1_000, {
      pageSize: 100,
      maxEventsPerSecond: 20,
    });
    await expect.poll(published, { interval: 20, timeout: 10_000 }).toBeGreaterThanOrEqual(100);
    // The second page's wait (5 s) is longer than a job waits in place: it parks (delayed).
    await expect.poll(() => jobState(runId), { interval: 20, timeout: 10_000 }).toBe('delayed');
    const pausedAt = Date.now();
    expect((await control(tenantId, runId, 'pause')).json().status).toBe('paused');
    await expect.poll(() => jobState(runId), { interval: 50, timeout: 3_000 }).toBe('delayed');
    expect(Date.now() - pausedAt).toBeLessThan(2_000);
    expect(await published()).toBe(100 + 1); // the first page and the sync.started marker
    expect((await control(tenantId, runId, 'cancel')).json().status).toBe('cancelled');
  });

  it('keeps a throttled run within its events-per-second limit', async () => {
    await t.redis.del(t.streams('crm').memberships);
    const rows = 3_000;
    const limit = 1_000;
    const pageSize = 100;
    const { runId } = await start('throttle', rows, { pageSize, maxEventsPerSecond: limit });
    expect((await t.waitForRun(runId, ['completed'])).status).toBe('completed');
    const entries = await t.redis.xrange(t.streams('crm').memberships, '-', '+');
    const times = entries
      .filter(([, fields]) => (fields[1] as string).includes('"org.assignment.created"'))
      .map(([id]) => Number(id.split('-')[0]));
    expect(times).toHaveLength(rows);
    const first = times[0] as number;
    const last = times[times.length - 1] as number;
    // Pages are spaced by the limit; the rate between the first page and the last is the limit.
    const rate = ((rows - pageSize) * 1000) / (last - first);
    expect(rate).toBeLessThanOrEqual(limit * 1.05);
    expect(rate).toBeGreaterThan(limit * 0.7);
  });
});
