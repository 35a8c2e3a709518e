/**
 * A control that answered an error changed nothing, also once Redis comes back. Redis is paused
 * for writes (`CLIENT PAUSE … WRITE`) during a pause, a resume and a cancel: each answers 503,
 * and the control's key write, held by Redis, lands after the answer when Redis is unpaused. The
 * run's status is as before; a paused run whose resume failed stays closed (its keys say paused,
 * a page offered to them is refused); a running run whose pause or cancel failed goes on and
 * completes with every row exactly once. Runs on a Redis of its own: pausing the suite's shared
 * server would stall every other test file.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { publishPage } from '@historical-sync/backfill';
import { controlKey, pageCommands } from '@historical-sync/backfill/testing';
import { type RunningService, startRedis } from '@historical-sync/local-stack';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ApiTestContext,
  auth,
  createApiTestContext,
  runStatus,
  startMembershipsSync,
} from './helpers';

describe('a control while Redis is paused for writes', () => {
  let server: RunningService;
  let t: ApiTestContext;
  let admin: Redis;

  beforeAll(async () => {
    server = await startRedis({
      dataDir: await mkdtemp(join(tmpdir(), 'redis-paused-')),
      appendOnly: false,
    });
    process.env.REDIS_URL = server.url;
    t = await createApiTestContext('control_redis_paused', { settings: { pageSize: 20 } });
    t.startWorkers();
    admin = new Redis(server.url);
  });
  afterAll(async () => {
    await admin.client('UNPAUSE').catch(() => {});
    admin.disconnect();
    await t.close();
    await server.stop();
  });

  const control = (tenantId: string, runId: string, action: string) =>
    t.app.inject({
      method: 'POST',
      url: `/admin/organizations/${tenantId}/sync-runs/${runId}/${action}`,
      headers: auth,
      payload: {},
    });
  const membershipsStream = () => t.streams('crm').memberships;
  const controlState = async (runId: string) =>
    admin.hgetall(controlKey(membershipsStream(), runId));

  /** Sends the control with Redis paused for writes, then lets Redis go once it has answered. */
  const controlWhilePaused = async (tenantId: string, runId: string, action: string) => {
    await admin.client('PAUSE', 30_000, 'WRITE');
    try {
      return await control(tenantId, runId, action);
    } finally {
      await admin.client('UNPAUSE');
    }
  };

  /** The write the failed control left waiting in Redis has run: the key's number moved. */
  const lateWriteLanded = async (runId: string, seqBefore: string | undefined) => {
    await expect
      .poll(async () => (await controlState(runId)).seq, { timeout: 10_000 })
      .not.toBe(seqBefore);
  };

  it('a resume that answered 503 leaves the run paused and its barrier closed', async () => {
    const memberships = 2_000;
    const { tenantId, runId } = await startMembershipsSync(t, 'resume-refused', memberships, {
      maxEventsPerSecond: 500,
    });
    await expect.poll(() => runStatus(t, runId), { timeout: 15_000 }).toBe('running');
    expect((await control(tenantId, runId, 'pause')).statusCode).toBe(200);
    const before = await controlState(runId);
    expect(before.state).toBe('paused');
    const lengthAtPause = await t.redis.xlen(membershipsStream());

    const resumed = await controlWhilePaused(tenantId, runId, 'resume');
    expect(resumed.statusCode, resumed.body).toBe(503);
    await lateWriteLanded(runId, before.seq);

    expect(await runStatus(t, runId)).toBe('paused');
    expect((await controlState(runId)).state).toBe('paused');
    // A page of the run offered now (as its parked jobs and its completion markers would) is
    // refused by the barrier, and nothing reached the stream since the pause answered.
    const stream = membershipsStream();
    const offered = await publishPage(t.redis, {
      runId,
      checkpointKey: `${stream}:probe:${runId}`,
      stream,
      expectedCursor: '',
      nextCursor: 'probe',
      ...pageCommands(stream, [JSON.stringify({ probe: true })]),
    });
    expect(offered.outcome).toBe('stopped');
    expect(await t.redis.xlen(stream)).toBe(lengthAtPause);

    // A resume that succeeds opens it, and the run completes with every row once.
    expect((await control(tenantId, runId, 'resume')).statusCode).toBe(200);
    expect((await t.waitForRun(runId, ['completed'], 60_000)).status).toBe('completed');
    const events = await t.readEvents(stream);
    expect(events.filter((e) => e.runId === runId)).toHaveLength(memberships);
    expect(new Set(events.map((e) => e.eventId)).size).toBe(events.length);
  });

  it.each(['pause', 'cancel'])(
    'a %s that answered 503 leaves the run running, and it completes exactly once',
    async (action) => {
      const memberships = 1_500;
      const { tenantId, runId } = await startMembershipsSync(t, `${action}-refused`, memberships, {
        maxEventsPerSecond: 600,
      });
      await expect.poll(() => runStatus(t, runId), { timeout: 15_000 }).toBe('running');
      const before = await controlState(runId);

      const answer = await controlWhilePaused(tenantId, runId, action);
      expect(answer.statusCode, answer.body).toBe(503);
      await lateWriteLanded(runId, before.seq);
      expect(await runStatus(t, runId)).toBe('running');

      expect((await t.waitForRun(runId, ['completed', 'cancelled', 'failed'], 60_000)).status).toBe(
        'completed',
      );
      const events = (await t.readEvents(membershipsStream())).filter((e) => e.runId === runId);
      expect(events).toHaveLength(memberships);
      expect(new Set(events.map((e) => e.eventId)).size).toBe(memberships);
    },
  );
});
