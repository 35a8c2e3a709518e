/**
 * `GET /admin/system` with the real API and worker processes: the worker's heartbeat names it
 * and its roles, and its 10-second event counts add up to exactly the events it published
 * (a backfill's and the relay's live ones); the outbox, a consumer group's lag and each
 * stream's length are the numbers Postgres and Redis hold; Redis's memory is what INFO says, and
 * the worker's trim passes are recorded.
 */
import { randomBytes } from 'node:crypto';
import { HISTORICAL_EVENT_TYPE, type SystemResponse, streamName } from '@historical-sync/contracts';
import { seedTenant } from '@historical-sync/db';
import { createTestDatabase, type TestDatabase } from '@historical-sync/db/testing';
import { Redis } from 'ioredis';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Command, envWithout, killCommand, runApp } from './helpers';

describe('/admin/system with a worker running', () => {
  let database: TestDatabase;
  let redis: Redis;
  let api: Command | undefined;
  let worker: Command | undefined;
  let base = '';
  const unique = `t${randomBytes(4).toString('hex')}`;
  const adminKey = `system-test-${randomBytes(8).toString('hex')}`;
  const headers = { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' };

  beforeAll(async () => {
    database = await createTestDatabase('console_system');
    redis = new Redis(process.env.REDIS_URL as string);
    const env = {
      ...envWithout('ADMIN_API_KEY', 'HOST', 'PORT'),
      DATABASE_URL: database.url,
      QUEUE_PREFIX: unique,
      STREAM_PREFIX: `${unique}:`,
      HOST: '127.0.0.1',
      PORT: '0',
      ADMIN_API_KEY: adminKey,
      LOG_LEVEL: 'info',
      BACKFILL_PAGE_SIZE: '20',
    };
    api = runApp('api', env);
    worker = runApp('worker', env);
    // Two processes starting under tsx on a busy machine: minutes, not seconds, at worst.
    const [, port] = await api.waitFor(/API listening on http:\/\/[^"]*:(\d+)/, 150_000);
    base = `http://127.0.0.1:${port}`;
    await worker.waitFor(/worker started/, 150_000);
  }, 180_000);
  afterAll(async () => {
    await Promise.all([killCommand(api), killCommand(worker)]);
    const keys = await redis.keys(`*${unique}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
    await database?.destroy();
  });

  const system = async (): Promise<SystemResponse> => {
    const response = await fetch(`${base}/admin/system`, { headers });
    expect(response.status).toBe(200);
    return (await response.json()) as SystemResponse;
  };

  it('shows the worker, its events per 10 s, the outbox and consumer-group lag', {
    timeout: 150_000,
  }, async () => {
    const { tenantId } = await seedTenant(database.db, {
      tenantName: 'system',
      organizations: 30,
      memberships: 100,
      creditAllocations: 10,
      app: 'crm',
      seed: 3,
    });
    const orgStream = streamName(HISTORICAL_EVENT_TYPE.organizations, 'crm', `${unique}:`);
    await redis.xgroup('CREATE', orgStream, 'console-test', '0', 'MKSTREAM');

    const enabled = await fetch(`${base}/admin/organizations/${tenantId}/applications/crm/toggle`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ isEnabled: true }),
    });
    const { runId } = (await enabled.json()) as { runId: string };
    // A live event too: a new organization, relayed from the outbox.
    const created = await fetch(`${base}/admin/organizations/${tenantId}/organizations`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ code: 'live-1', name: 'Live One' }),
    });
    expect(created.status).toBe(201);

    const published = async () => {
      const { rows } = await sql<{ status: string; historical: number; live: number }>`
        SELECT (SELECT status FROM backfill_runs WHERE id = ${runId}) AS status,
          (SELECT coalesce(sum(published), 0)::int FROM backfill_run_resources WHERE run_id = ${runId}) AS historical,
          (SELECT count(*)::int FROM outbox WHERE published_at IS NOT NULL) AS live
      `.execute(database.db);
      return rows[0] as { status: string; historical: number; live: number };
    };
    // Every event the worker published lands in a complete 10-second point within ~15 s.
    await expect
      .poll(
        async () => {
          // The new organization may be in the backfill too (created before it counted).
          const { status, historical, live } = await published();
          const points = (await system()).eventsPerSecond;
          const counted = Math.round(points.reduce((sum, p) => sum + p.events * 10, 0));
          return {
            status,
            allRows: historical >= 140,
            liveRelayed: live >= 1,
            uncounted: historical + live - counted,
          };
        },
        { timeout: 90_000, interval: 500 },
      )
      .toEqual({ status: 'completed', allRows: true, liveRelayed: true, uncounted: 0 });

    const asked = Date.now();
    const body = await system();
    const answered = Date.now();
    expect(body.eventsPerSecond).toHaveLength(90);
    const times = body.eventsPerSecond.map((p) => Date.parse(p.at));
    expect(times.slice(1).map((at, i) => at - (times[i] as number))).toEqual(
      Array(89).fill(10_000),
    );
    expect(Date.now() - (times.at(-1) as number)).toBeLessThan(25_000);

    expect(body.workers).toHaveLength(1);
    const [seen] = body.workers;
    expect(seen?.id).toBe(`${seen?.id.split(':')[0]}:${worker?.child.pid}`);
    expect(seen?.roles).toEqual([
      'runs',
      'credits',
      'organizations',
      'memberships',
      'relay',
      'sweeper',
    ]);
    expect(Date.now() - Date.parse(seen?.lastSeenAt as string)).toBeLessThan(60_000);

    expect(body.outbox).toEqual({ backlog: 0, oldestAgeSeconds: null });
    const group = body.consumerGroups.find((g) => g.stream === orgStream);
    // Nobody reads the group: its lag is every entry of the stream (rows, markers, the live one),
    // it has no consumer to be idle, and it is not stalled before STREAM_GROUP_STALLED_MS (1 h).
    const length = await redis.xlen(orgStream);
    expect(group).toEqual({
      stream: orgStream,
      group: 'console-test',
      lag: length,
      pending: 0,
      idleSeconds: null,
      oldestUnackedAgeSeconds: expect.any(Number),
      stalled: false,
    });
    // The group holds every entry (retention keeps what it has not read): its oldest unacknowledged
    // is the stream's first, as old as it was when the API answered.
    const [first] = await redis.xrange(orgStream, '-', '+', 'COUNT', 1);
    const firstMs = Number(first?.[0].split('-')[0]);
    const ageMs = (group?.oldestUnackedAgeSeconds ?? 0) * 1000;
    expect(ageMs).toBeGreaterThanOrEqual(asked - firstMs - 1);
    expect(ageMs).toBeLessThanOrEqual(answered - firstMs + 1);
    expect(body.streams.find((s) => s.stream === orgStream)).toEqual({
      stream: orgStream,
      length,
      memoryBytes: expect.any(Number),
      oldestUnackedAgeSeconds: group?.oldestUnackedAgeSeconds,
      warning: null,
    });
    // No group reads the memberships stream: a warning says how long its entries are kept.
    const memberships = streamName(HISTORICAL_EVENT_TYPE.memberships, 'crm', `${unique}:`);
    expect(body.streams.find((s) => s.stream === memberships)).toMatchObject({
      length: await redis.xlen(memberships),
      oldestUnackedAgeSeconds: null,
      warning:
        'no consumer group reads this stream: its entries are kept 7 d (STREAM_RETENTION_UNGROUPED_MS), then trimmed unread',
    });
    const [, maxmemory] = (await redis.config('GET', 'maxmemory')) as [string, string];
    expect(body.redis).toMatchObject({
      usedBytes: expect.any(Number),
      maxBytes: Number(maxmemory),
      // 80 % (BACKFILL_REDIS_MEMORY_PERCENT) of a maxmemory; never without one.
      backfillWaitsAbove: maxmemory === '0' ? null : 0.8,
    });
    expect(body.redis.usedBytes).toBeGreaterThan(0);
    // The worker's sweeper trims every few seconds and records each pass.
    await expect
      .poll(async () => (await system()).redis.lastTrim, { timeout: 30_000, interval: 500 })
      .toEqual({ at: expect.any(String), removed: expect.any(Number) });
  });
});
