/**
 * A live run stream outlives neither its key nor its server, and frees its slot on every exit:
 * a revoked key's open streams end at once when revoked through the same API process and within
 * LIVE_KEY_CHECK_MS through another; requests whose client goes away right after its headers or
 * during setup leave no slot held; closing the server ends its open streams instead of waiting
 * for their hour.
 */
import { connect } from 'node:net';
import { createRun } from '@historical-sync/backfill';
import { seedTenant } from '@historical-sync/db';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/app';
import { LIVE_KEY_CHECK_MS } from '../src/routes/live-streams';
import { ADMIN_KEY, type ApiTestContext, auth, createApiTestContext } from './helpers';

describe('live run streams: revoked keys, aborted requests, server close', () => {
  let t: ApiTestContext;
  let base: string;
  /** A second API process on the same Postgres and Redis. */
  let other: FastifyInstance;
  let tenantId: string;
  let runUrl: string;

  const secondApp = () =>
    buildApp({
      db: t.db,
      redis: t.redis,
      queues: t.queues,
      settings: t.settings,
      logger: t.logger,
      adminApiKey: ADMIN_KEY,
      bodyLimitBytes: 64 * 1024,
      rateLimitPerMinute: 0,
      apiKeyCacheMs: 0,
      failedAuthPerMinute: 0,
      liveStreamsPerKey: 1,
    });

  beforeAll(async () => {
    // One stream per key: a leaked slot shows as a 429 for that key.
    t = await createApiTestContext('live-stream-revoke', { liveStreamsPerKey: 1 });
    base = await t.app.listen({ host: '127.0.0.1', port: 0 });
    other = await secondApp();
    ({ tenantId } = await seedTenant(t.db, {
      tenantName: 'live-revoke',
      organizations: 2,
      memberships: 2,
      creditAllocations: 0,
      app: 'crm',
      seed: 3,
    }));
    const application = await t.db
      .selectFrom('applications')
      .select('id')
      .where('code', '=', 'crm')
      .executeTakeFirstOrThrow();
    // A queued run with no worker: its stream stays open until something else ends it.
    const { run } = await createRun(t.db, {
      tenantId,
      applicationId: application.id,
      appCode: 'crm',
      trigger: 'manual',
      resources: ['memberships'],
      sinceDate: null,
      pageSize: 100,
      maxEventsPerSecond: null,
    });
    runUrl = `/admin/organizations/${tenantId}/sync-runs/${run.id}`;
  });
  afterAll(async () => {
    await other?.close();
    await t?.close();
  });

  const newKey = async () => {
    const response = await t.app.inject({
      method: 'POST',
      url: '/admin/api-keys',
      headers: auth,
      payload: { name: 'live', tenantId },
    });
    expect(response.statusCode, response.body).toBe(201);
    return response.json() as { id: string; key: string };
  };

  /** Opens a stream, reads its first event, and resolves `ended` when the server ends it. */
  const openStream = async (key: string, url = base) => {
    const response = await fetch(`${url}${runUrl}/live`, {
      headers: { authorization: `Bearer ${key}` },
      signal: AbortSignal.timeout(60_000),
    });
    if (response.status !== 200) return { status: response.status };
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    let text = '';
    while (!text.includes('\n\n')) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    expect(text).toMatch(/^event: run\n/);
    let endedAt: number | null = null;
    const ended = (async () => {
      for (;;) {
        const { done } = await reader.read().catch(() => ({ done: true }));
        if (done) {
          endedAt = Date.now();
          return;
        }
      }
    })();
    return { status: 200, ended, endedAt: () => endedAt, cancel: () => reader.cancel() };
  };

  it('a key revoked through the same API process: its open stream ends at once, and it gets 401', async () => {
    const { id, key } = await newKey();
    const stream = await openStream(key);
    expect(stream.status).toBe(200);
    const revokedAt = Date.now();
    const revoke = await t.app.inject({
      method: 'DELETE',
      url: `/admin/api-keys/${id}`,
      headers: auth,
    });
    expect(revoke.statusCode, revoke.body).toBe(200);
    await expect.poll(() => stream.endedAt?.(), { timeout: 2_000, interval: 20 }).not.toBeNull();
    expect((stream.endedAt?.() ?? Infinity) - revokedAt).toBeLessThan(1_000);
    expect((await openStream(key)).status).toBe(401);
  });

  it('a key revoked through another API process: its open stream ends within LIVE_KEY_CHECK_MS', async () => {
    const { id, key } = await newKey();
    const stream = await openStream(key);
    expect(stream.status).toBe(200);
    const revokedAt = Date.now();
    const revoke = await other.inject({
      method: 'DELETE',
      url: `/admin/api-keys/${id}`,
      headers: auth,
    });
    expect(revoke.statusCode, revoke.body).toBe(200);
    await expect
      .poll(() => stream.endedAt?.(), { timeout: LIVE_KEY_CHECK_MS + 3_000, interval: 50 })
      .not.toBeNull();
    expect((stream.endedAt?.() ?? Infinity) - revokedAt).toBeLessThan(LIVE_KEY_CHECK_MS + 1_000);
  });

  it('clients that go away right after their headers or during setup leave no slot held', async () => {
    const { key } = await newKey();
    const { port } = new URL(base);
    const request = `GET ${runUrl}/live HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${key}\r\n\r\n`;
    /** Sends the request and destroys the socket after `delayMs` (0: as soon as it is written). */
    const abandon = (delayMs: number) =>
      new Promise<void>((resolve, reject) => {
        const socket = connect(Number(port), '127.0.0.1', () => {
          socket.write(request, () => {
            setTimeout(() => {
              socket.destroy();
              resolve();
            }, delayMs);
          });
        });
        socket.on('error', reject);
      });
    for (let round = 0; round < 40; round += 1) {
      // Some at once, some a little later: the server is then authenticating or reading the run.
      await Promise.all([abandon(0), abandon(round % 5), abandon(1 + (round % 3))]);
    }
    // The one slot of this key is free again once the server has seen every socket close.
    await expect
      .poll(
        async () => {
          const stream = await openStream(key);
          await stream.cancel?.();
          return stream.status;
        },
        { timeout: 5_000, interval: 100 },
      )
      .toBe(200);
  });

  it('closing the server ends its open streams instead of waiting for their lifetime', async () => {
    const { key } = await newKey();
    const app = await secondApp();
    const url = await app.listen({ host: '127.0.0.1', port: 0 });
    const stream = await openStream(key, url);
    expect(stream.status).toBe(200);
    const closing = app.close();
    await stream.ended;
    const closedIn = await Promise.race([
      closing.then(() => 'closed'),
      new Promise((resolve) => setTimeout(() => resolve('still open'), 5_000)),
    ]);
    expect(closedIn).toBe('closed');
  });
});
