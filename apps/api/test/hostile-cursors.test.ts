/**
 * Listing cursors are opaque, and one the API never gave is a 400 naming `cursor` before any
 * query: one that decodes to a string with a NUL (which Postgres text cannot hold, so it used to
 * answer 500), an unpaired surrogate, the wrong shape, or no JSON at all. A real cursor still
 * pages. A tenant search with a NUL is a 400 naming `q` for the same reason. A run-list cursor
 * whose time is no real instant (month 13, hour 99, 29 February of a common year, year 0000,
 * which Postgres cannot cast, so it used to answer 500), or one Postgres would quietly roll over
 * (24:00, a 60th second) that the API never writes, is a 400 naming `cursor` too.
 */
import { randomUUID } from 'node:crypto';
import { seedTenant } from '@historical-sync/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiTestContext, auth, createApiTestContext } from './helpers';

const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

describe('hostile listing cursors', () => {
  let t: ApiTestContext;
  beforeAll(async () => {
    t = await createApiTestContext('hostile_cursors');
    for (const name of ['cursor-a', 'cursor-b', 'cursor-c']) {
      await seedTenant(t.db, {
        tenantName: name,
        organizations: 1,
        memberships: 0,
        creditAllocations: 0,
        app: 'crm',
        seed: 1,
      });
    }
  });
  afterAll(async () => {
    await t.close();
  });

  const listTenants = (cursor: string) =>
    t.app.inject({
      method: 'GET',
      url: `/admin/tenants?limit=1&cursor=${encodeURIComponent(cursor)}`,
      headers: auth,
    });

  const id = randomUUID();
  const hostile: Array<[string, string]> = [
    ['a NUL in the name', encode(['a\u0000b', id])],
    ['only a NUL', encode(['\u0000', id])],
    ['a NUL in the id', encode(['a', `${id.slice(0, 35)}\u0000`])],
    ['an unpaired surrogate', encode(['\ud800', id])],
    ['an unpaired low surrogate after text', encode(['tenant \udfff', id])],
    ['a number for the name', encode([1, id])],
    ['an id that is not a uuid', encode(['a', "x' OR 1=1 --"])],
    ['a third part', encode(['a', id, 'more'])],
    ['an object', encode({ name: 'a', id })],
    ['null', encode(null)],
    ['not JSON', Buffer.from('["a",').toString('base64url')],
    ['not base64url', '!!!***'],
  ];

  it.each(hostile)('a cursor with %s gets 400 naming cursor', async (_name, cursor) => {
    const response = await listTenants(cursor);
    expect(response.statusCode, response.body).toBe(400);
    expect(response.json()).toMatchObject({ error: 'bad_request', field: 'cursor' });
  });

  const listRuns = (cursor: string) =>
    t.app.inject({
      method: 'GET',
      url: `/admin/sync-runs?limit=1&cursor=${encodeURIComponent(cursor)}`,
      headers: auth,
    });

  const impossibleTimes: Array<[string, string]> = [
    ['month 13, day 45, hour 99', '2024-13-45T99:99:99.000000Z'],
    ['year 0000', '0000-01-01T00:00:00.000000Z'],
    ['month 00', '2024-00-10T00:00:00.000000Z'],
    ['day 00', '2024-01-00T00:00:00.000000Z'],
    ['29 February of a common year', '2023-02-29T00:00:00.000000Z'],
    ['31 April', '2024-04-31T00:00:00.000000Z'],
    ['hour 24', '2024-01-01T24:00:00.000000Z'],
    ['minute 60', '2024-01-01T12:60:00.000000Z'],
    ['a 60th second', '2024-12-31T23:59:60.000000Z'],
  ];

  it.each(impossibleTimes)(
    'a run-list cursor at %s gets 400 naming cursor',
    async (_name, time) => {
      const response = await listRuns(encode([time, id]));
      expect(response.statusCode, response.body).toBe(400);
      expect(response.json()).toMatchObject({ error: 'bad_request', field: 'cursor' });
    },
  );

  it('a run-list cursor at a real instant is read (29 February of a leap year, year 1)', async () => {
    for (const time of ['2024-02-29T23:59:59.999999Z', '0001-01-01T00:00:00.000000Z']) {
      const response = await listRuns(encode([time, id]));
      expect(response.statusCode, response.body).toBe(200);
      expect(response.json()).toMatchObject({ runs: [], nextCursor: null });
    }
  });

  it('a search with a NUL gets 400 naming q (Postgres cannot compare it)', async () => {
    for (const q of ['%00', 'cursor%00']) {
      const response = await t.app.inject({
        method: 'GET',
        url: `/admin/tenants?q=${q}`,
        headers: auth,
      });
      expect(response.statusCode, response.body).toBe(400);
      expect(response.json()).toMatchObject({ error: 'bad_request', field: 'q' });
    }
  });

  it('a cursor the API gave still pages', async () => {
    const first = await t.app.inject({
      method: 'GET',
      url: '/admin/tenants?limit=1',
      headers: auth,
    });
    expect(first.statusCode, first.body).toBe(200);
    const { nextCursor } = first.json() as { nextCursor: string };
    expect(nextCursor).toEqual(expect.any(String));
    const second = await listTenants(nextCursor);
    expect(second.statusCode, second.body).toBe(200);
    expect(second.json().tenants.map((x: { name: string }) => x.name)).toEqual(['cursor-b']);
  });
});
