/**
 * The console's routes against real Postgres, Redis and workers: the tenant directory and the
 * run history (search, filters, keyset pages that hold while runs are created), tenant-key
 * isolation on each route, retry of a run failed by a bad row, the live run stream and its cap,
 * the run view's new fields, and a dry run of an application not enabled.
 */
import { randomUUID } from 'node:crypto';
import { createRun } from '@historical-sync/backfill';
import type { RunListResponse, RunView, TenantListResponse } from '@historical-sync/contracts';
import { seedTenant } from '@historical-sync/db';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ApiTestContext,
  auth,
  createApiTestContext,
  createTenantKey,
  startMembershipsSync,
} from './helpers';

const LIVE_CAP = 2;

describe('console API', () => {
  let t: ApiTestContext;
  let base: string;
  beforeAll(async () => {
    t = await createApiTestContext('console', { liveStreamsPerKey: LIVE_CAP });
    t.startWorkers();
    base = await t.app.listen({ host: '127.0.0.1', port: 0 });
  });
  afterAll(async () => {
    await t?.close();
  });

  const bearer = (key: string) => ({ authorization: `Bearer ${key}` });
  const get = (url: string, headers: Record<string, string> = auth) =>
    t.app.inject({ method: 'GET', url, headers });
  const seed = (tenantName: string, sizes: { organizations?: number; memberships?: number } = {}) =>
    seedTenant(t.db, {
      tenantName,
      organizations: sizes.organizations ?? 2,
      memberships: sizes.memberships ?? 2,
      creditAllocations: 0,
      app: 'crm',
      seed: 7,
    });
  const applicationId = async (code: string) =>
    (
      await t.db
        .selectFrom('applications')
        .select('id')
        .where('code', '=', code)
        .executeTakeFirstOrThrow()
    ).id;
  /** A finished run created directly (many runs of one tenant and application, quickly). */
  const finishedRun = async (tenantId: string, appCode: string, status: 'completed' | 'failed') => {
    const { run } = await createRun(t.db, {
      tenantId,
      applicationId: await applicationId(appCode),
      appCode,
      trigger: 'manual',
      resources: ['organizations'],
      sinceDate: null,
      pageSize: 100,
      maxEventsPerSecond: null,
    });
    await t.db
      .updateTable('backfill_runs')
      .set({ status, finished_at: new Date(), last_error: status === 'failed' ? 'boom' : null })
      .where('id', '=', run.id)
      .execute();
    return run.id;
  };

  /** Every page of a listing, following nextCursor. */
  const allPages = async <T>(
    url: (cursor: string | null) => string,
    items: (body: never) => T[],
    headers: Record<string, string> = auth,
  ) => {
    const seen: T[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const response = await get(url(cursor), headers);
      expect(response.statusCode, response.body).toBe(200);
      const body = response.json();
      seen.push(...items(body as never));
      cursor = body.nextCursor;
      pages++;
    } while (cursor !== null && pages < 1_000);
    return { seen, pages };
  };

  it('lists tenants by name then id, searches names and id prefixes, and a tenant key sees only its own', async () => {
    const suffix = randomUUID().slice(0, 6);
    const names = ['Zeta', 'alpha', 'Alpha', 'beta_%', 'gamma', 'alphabet', 'delta'].map(
      (n) => `${n}-${suffix}`,
    );
    const ids = new Map<string, string>();
    for (const name of names) ids.set(name, (await seed(name)).tenantId);

    const expected = (
      await sql<{ id: string }>`SELECT id FROM tenants ORDER BY name, id`.execute(t.db)
    ).rows.map((r) => r.id);
    const { seen, pages } = await allPages(
      (cursor) => `/admin/tenants?limit=3${cursor ? `&cursor=${cursor}` : ''}`,
      (body: TenantListResponse) => body.tenants.map((tenant) => tenant.tenantId),
    );
    expect(seen).toEqual(expected);
    expect(pages).toBe(Math.ceil(expected.length / 3));

    const search = async (q: string, headers = auth) => {
      const response = await get(`/admin/tenants?q=${encodeURIComponent(q)}`, headers);
      expect(response.statusCode, response.body).toBe(200);
      return (response.json() as TenantListResponse).tenants.map((tenant) => tenant.name);
    };
    // Case-insensitive substring; LIKE's wildcards match only themselves.
    expect(await search(`ALPHA-${suffix}`)).toEqual([`Alpha-${suffix}`, `alpha-${suffix}`]);
    expect(await search(`_%-${suffix}`)).toEqual([`beta_%-${suffix}`]);
    const gammaId = ids.get(`gamma-${suffix}`) as string;
    expect(await search(gammaId.slice(0, 13))).toEqual([`gamma-${suffix}`]);

    const [summary] = (await get(`/admin/tenants?q=gamma-${suffix}`)).json().tenants;
    expect(summary.applications.map((a: { code: string }) => a.code).sort()).toEqual([
      'affiliate',
      'crm',
      'hr',
    ]);
    expect(summary.applications[0]).toMatchObject({
      isEnabled: false,
      enabledAt: null,
      syncNeeded: false,
      latestRun: null,
    });

    const key = await createTenantKey(t, gammaId);
    expect(await search('', bearer(key))).toEqual([`gamma-${suffix}`]);
    expect(await search(`alpha-${suffix}`, bearer(key))).toEqual([]);

    for (const [query, field] of [
      ['limit=0', 'limit'],
      ['limit=101', 'limit'],
      ['limit=ten', 'limit'],
      [`q=${'x'.repeat(101)}`, 'q'],
      ['cursor=bm90LWEtY3Vyc29y', 'cursor'],
    ]) {
      const response = await get(`/admin/tenants?${query}`);
      expect([response.statusCode, response.json().field], query).toEqual([400, field]);
    }
  });

  it('lists runs newest first with filters, in pages without duplicates or gaps while runs are created', async () => {
    const tenants = await Promise.all(
      ['runs-a', 'runs-b'].map((n) => seed(`${n}-${randomUUID()}`)),
    );
    const [a, b] = tenants.map((x) => x.tenantId) as [string, string];
    for (let i = 0; i < 6; i++) {
      await finishedRun(a, 'crm', i % 3 === 0 ? 'failed' : 'completed');
      await finishedRun(b, i % 2 ? 'hr' : 'crm', 'completed');
    }
    const listedBefore = (
      await sql<{
        id: string;
      }>`SELECT id FROM backfill_runs ORDER BY created_at DESC, id DESC`.execute(t.db)
    ).rows.map((r) => r.id);

    // New runs arrive while the pages are read: they are newer than every listed one.
    let creating = true;
    const creator = (async () => {
      let made = 0;
      while (creating || made < 3) {
        await finishedRun(b, 'affiliate', 'completed');
        made++;
      }
      return made;
    })();
    const { seen } = await allPages(
      (cursor) => `/admin/sync-runs?limit=4${cursor ? `&cursor=${cursor}` : ''}`,
      (body: RunListResponse) => body.runs.map((run) => run.runId),
    );
    creating = false;
    expect(await creator).toBeGreaterThanOrEqual(3);
    const newer = seen.filter((id) => !listedBefore.includes(id));
    expect(seen.filter((id) => listedBefore.includes(id))).toEqual(listedBefore);
    expect(new Set(seen).size).toBe(seen.length);
    // Created during the listing, so only ever on the first page, before every older run.
    expect(seen.slice(0, newer.length)).toEqual(newer);

    const list = async (query: string, headers = auth) => {
      const response = await get(`/admin/sync-runs?${query}`, headers);
      expect(response.statusCode, response.body).toBe(200);
      return (response.json() as RunListResponse).runs;
    };
    const failedOfA = await list(`tenantId=${a}&status=failed`);
    expect(failedOfA.map((r) => [r.tenantId, r.status, r.lastError])).toEqual([
      [a, 'failed', 'boom'],
      [a, 'failed', 'boom'],
    ]);
    const hrOfB = await list(`tenantId=${b}&appCode=hr&limit=100`);
    expect(hrOfB).toHaveLength(3);
    expect(hrOfB.every((r) => r.appCode === 'hr' && r.tenantName.startsWith('runs-b'))).toBe(true);
    const times = hrOfB.map((r) => r.createdAt);
    expect(times).toEqual([...times].sort().reverse());

    // A tenant key: its own runs whatever it asks; another tenant is as unknown as none.
    const key = await createTenantKey(t, a);
    const own = await list('limit=100', bearer(key));
    expect(own).toHaveLength(6);
    expect(own.every((r) => r.tenantId === a)).toBe(true);
    expect((await get(`/admin/sync-runs?tenantId=${b}`, bearer(key))).statusCode).toBe(404);
    expect((await get(`/admin/sync-runs?tenantId=${randomUUID()}`)).statusCode).toBe(404);
    const bad = await get('/admin/sync-runs?status=done');
    expect([bad.statusCode, bad.json().field]).toEqual([400, 'status']);
  });

  it('keeps every console route of a tenant from another tenant key', async () => {
    const { tenantId: own } = await seed(`own-${randomUUID()}`);
    const { tenantId: other } = await seed(`other-${randomUUID()}`);
    const otherRun = await finishedRun(other, 'crm', 'failed');
    const key = await createTenantKey(t, own);
    const requests: [string, string][] = [
      ['GET', `/admin/organizations/${other}/applications`],
      ['GET', `/admin/organizations/${other}/sync-runs/${otherRun}`],
      ['POST', `/admin/organizations/${other}/sync-runs/${otherRun}/retry`],
      ['GET', `/admin/organizations/${other}/sync-runs/${otherRun}/live`],
      // Its own tenant in the path does not reach another tenant's run either.
      ['GET', `/admin/organizations/${own}/sync-runs/${otherRun}/live`],
      ['POST', `/admin/organizations/${own}/sync-runs/${otherRun}/retry`],
    ];
    for (const [method, url] of requests) {
      const response = await t.app.inject({ method: method as 'GET', url, headers: bearer(key) });
      expect([response.statusCode, response.json().error], url).toEqual([404, 'not_found']);
    }
    const system = await get('/admin/system', bearer(key));
    expect(system.statusCode).toBe(403);
    const ownApps = await get(`/admin/organizations/${own}/applications`, bearer(key));
    expect(ownApps.statusCode).toBe(200);
    expect(ownApps.json().tenantId).toBe(own);
    expect(
      await t.db
        .selectFrom('backfill_runs')
        .select('status')
        .where('id', '=', otherRun)
        .executeTakeFirstOrThrow(),
    ).toEqual({ status: 'failed' });
  });

  it('retries a run failed by a bad row once the row is fixed: every row published exactly once', async () => {
    const organizations = 450;
    const { tenantId } = await seed(`retry-${randomUUID()}`, { organizations, memberships: 0 });
    const { rows } = await sql<{ id: string }>`
      SELECT id FROM entities WHERE tenant_id = ${tenantId} AND entity_type = 'organization' ORDER BY id
    `.execute(t.db);
    const badId = rows[250]?.id as string;
    await t.db.updateTable('entities').set({ name: '' }).where('id', '=', badId).execute();
    const enabled = await t.app.inject({
      method: 'POST',
      url: `/admin/organizations/${tenantId}/applications/crm/toggle`,
      headers: auth,
      payload: { isEnabled: true },
    });
    const runId = enabled.json().runId as string;
    await t.waitForRun(runId, ['failed'], 60_000);
    const runUrl = `/admin/organizations/${tenantId}/sync-runs/${runId}`;
    const failed = (await get(runUrl)).json() as RunView;
    expect(failed).toMatchObject({ status: 'failed', tenantId, appCode: 'crm' });
    expect(failed.allowedActions).toEqual(['cancel', 'retry']);
    expect(failed.resources.organizations?.lastError).toContain(badId);

    const retry = () => t.app.inject({ method: 'POST', url: `${runUrl}/retry`, headers: auth });
    await t.db.updateTable('entities').set({ name: 'Fixed' }).where('id', '=', badId).execute();
    const retried = await retry();
    expect(retried.statusCode, retried.body).toBe(202);
    expect((retried.json() as RunView).status).toBe('running');
    expect((await t.waitForRun(runId, ['completed', 'failed'], 60_000)).status).toBe('completed');
    // A completed run is not retried; an unknown one is not found.
    expect((await retry()).statusCode).toBe(409);
    const unknown = await t.app.inject({
      method: 'POST',
      url: `/admin/organizations/${tenantId}/sync-runs/${randomUUID()}/retry`,
      headers: auth,
    });
    expect(unknown.statusCode).toBe(404);

    const events = (await t.readEvents(t.streams('crm').organizations)).filter(
      (e) => e.runId === runId,
    );
    const entityIds = events.map((e) => (e as { entityId: string }).entityId);
    expect(entityIds).toHaveLength(organizations);
    expect(new Set(entityIds)).toEqual(new Set(rows.map((r) => r.id)));
    expect(events.find((e) => (e as { entityId: string }).entityId === badId)).toMatchObject({
      name: 'Fixed',
    });
  });

  /** Reads a live stream to its end (or until `until` says stop): its run events in order. */
  const readLive = async (
    url: string,
    options: { until?: (view: RunView) => boolean; signal?: AbortSignal } = {},
  ) => {
    const response = await fetch(`${base}${url}`, { headers: auth, signal: options.signal });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    const views: RunView[] = [];
    let buffer = '';
    let ended = false;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) {
        ended = true;
        break;
      }
      buffer += decoder.decode(value, { stream: true });
      let cut = buffer.indexOf('\n\n');
      let stop = false;
      while (cut >= 0) {
        const message = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        cut = buffer.indexOf('\n\n');
        if (!message.startsWith('event: run\n')) continue;
        const view = JSON.parse(message.slice('event: run\ndata: '.length)) as RunView;
        views.push(view);
        if (options.until?.(view)) stop = true;
      }
      if (stop) {
        await reader.cancel();
        break;
      }
    }
    return { views, ended };
  };

  it('live: sends the run at once and on each change, with rate and ETA, and ends after sending the state the run ended in', async () => {
    const rows = 4_000;
    const { tenantId, runId } = await startMembershipsSync(t, `live-${randomUUID()}`, rows, {
      pageSize: 100,
      maxEventsPerSecond: 1_000,
    });
    const { views, ended } = await readLive(
      `/admin/organizations/${tenantId}/sync-runs/${runId}/live`,
    );
    expect(ended).toBe(true);
    expect(views.length).toBeGreaterThanOrEqual(3);
    const last = views.at(-1) as RunView;
    expect([last.status, last.published, last.total, last.allowedActions]).toEqual([
      'completed',
      rows,
      rows,
      [],
    ]);
    // Each event is a change: published only grows, never the same view twice in a row.
    const published = views.map((v) => v.published);
    expect(published).toEqual([...published].sort((x, y) => x - y));
    const running = views.filter((v) => v.status === 'running' && v.published > 0);
    expect(running.some((v) => v.eventsPerSecond !== null && v.eventsPerSecond > 0)).toBe(true);
    const withEta = running.find((v) => v.etaSeconds !== null);
    expect(withEta?.etaSeconds).toBeGreaterThan(0);
    // Near the throttle's 1,000 events/s, not an average over the time before the run started.
    const rates = running.flatMap((v) => (v.eventsPerSecond ? [v.eventsPerSecond] : []));
    expect(Math.max(...rates)).toBeLessThan(3_000);
  });

  it('live: at most N streams per key (429 beyond), a slot freed when its client goes away; a paused run reads paused', async () => {
    const { tenantId, runId } = await startMembershipsSync(t, `cap-${randomUUID()}`, 5_000, {
      pageSize: 50,
      maxEventsPerSecond: 200,
    });
    const runUrl = `/admin/organizations/${tenantId}/sync-runs/${runId}`;
    const paused = await t.app.inject({ method: 'POST', url: `${runUrl}/pause`, headers: auth });
    expect(paused.statusCode, paused.body).toBe(200);
    const view = (await get(runUrl)).json() as RunView;
    expect(view.allowedActions).toEqual(['resume', 'cancel']);
    expect(Object.values(view.resources).map((r) => r.status)).toEqual(['paused']);

    /** Opens a stream and reads its first event; the stream stays open until aborted. */
    const open = async () => {
      const client = new AbortController();
      const response = await fetch(`${base}${runUrl}/live`, {
        headers: auth,
        signal: client.signal,
      });
      if (response.status !== 200) return { client, status: response.status, response };
      const reader = (response.body as ReadableStream<Uint8Array>).getReader();
      let text = '';
      while (!text.includes('\n\n')) {
        const { value, done } = await reader.read();
        if (done) break;
        text += new TextDecoder().decode(value);
      }
      const first = JSON.parse(text.split('\n')[1]?.slice('data: '.length) ?? '{}');
      return { client, status: 200, first: first as RunView };
    };
    // Requests at once: exactly the cap are let through, however they interleave.
    const burst = await Promise.all(Array.from({ length: LIVE_CAP + 2 }, open));
    const streams = burst.filter((stream) => stream.status === 200);
    try {
      expect(burst.map((stream) => stream.status).sort()).toEqual([200, 200, 429, 429]);
      for (const stream of streams) {
        expect(stream.status).toBe(200);
        expect(stream.first?.status).toBe('paused');
        expect(stream.first?.resources.memberships?.status).toBe('paused');
      }
      const refused = await open();
      expect(refused.status).toBe(429);
      expect(await refused.response?.json()).toMatchObject({ error: 'too_many_requests' });
      // Another key has streams of its own.
      const otherKey = await createTenantKey(t, tenantId);
      const other = await fetch(`${base}${runUrl}/live`, {
        headers: bearer(otherKey),
        signal: AbortSignal.timeout(30_000),
      });
      expect(other.status).toBe(200);
      await other.body?.cancel();

      // The client goes away: its slot is freed once the server sees the connection close.
      streams[0]?.client.abort();
      await expect
        .poll(
          async () => {
            const again = await open();
            again.client.abort();
            return again.status;
          },
          { timeout: 10_000, interval: 100 },
        )
        .toBe(200);
    } finally {
      for (const stream of burst) stream.client.abort();
      await t.app.inject({ method: 'POST', url: `${runUrl}/cancel`, headers: auth });
    }
  });

  it('dry run of an application not enabled counts what enabling it then publishes', async () => {
    const { tenantId } = await seed(`dry-${randomUUID()}`, { organizations: 30, memberships: 120 });
    const sync = (body: object) =>
      t.app.inject({
        method: 'POST',
        url: `/admin/organizations/${tenantId}/applications/crm/sync-historical`,
        headers: auth,
        payload: body,
      });
    const dry = await sync({ dryRun: true });
    expect(dry.statusCode, dry.body).toBe(200);
    expect(dry.json().counts).toEqual({ credits: 0, organizations: 30, memberships: 120 });
    // sinceDate is honoured: nothing was created after the far future.
    const future = await sync({ dryRun: true, sinceDate: '2999-01-01T00:00:00Z' });
    expect(future.json().total).toBe(0);
    // A real sync of a disabled application is still refused.
    expect((await sync({})).statusCode).toBe(409);

    const enabled = await t.app.inject({
      method: 'POST',
      url: `/admin/organizations/${tenantId}/applications/crm/toggle`,
      headers: auth,
      payload: { isEnabled: true },
    });
    const run = await t.waitForRun(enabled.json().runId, ['completed', 'failed'], 60_000);
    expect(run.status).toBe('completed');
    expect(Object.fromEntries(run.resources.map((r) => [r.resource, r.published]))).toEqual(
      dry.json().counts,
    );
  });
});
