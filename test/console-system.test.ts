/**
 * `GET /admin/system` with the real API and worker processes: the worker's heartbeat names it
 * and its roles, and its 10-second event counts add up to exactly the events it published
 * (a backfill's and the relay's live ones); the outbox and a consumer group's lag are the
 * numbers Postgres and Redis hold.
 */
import { randomBytes } from 'node:crypto';
import { HISTORICAL_EVENT_TYPE, type SystemBody, streamName } from '@historical-sync/contracts';
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

  const system = async (): Promise<SystemBody> => {
    const response = await fetch(`${base}/admin/system`, { headers });
    expect(response.status).toBe(200);
    return (await response.json()) as SystemBody;
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

    const body = await system();
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
    // Nobody reads the group: its lag is every entry of the stream (rows, markers, the live one).
    expect(group).toEqual({
      stream: orgStream,
      group: 'console-test',
      lag: await redis.xlen(orgStream),
      pending: 0,
    });
  });
});
