/**
 * `POST /admin/streams/detach-group` against real Postgres and Redis: admin keys only; a stream
 * that is not one of the system's, or a group its stream does not have, is a 404 naming the field
 * and destroys nothing; a known group goes, and the entries it alone held (read and not
 * acknowledged, or never read) are then trimmed by the retention's own `trimStream`.
 */
import { trimStream } from '@historical-sync/backfill';
import { streamName } from '@historical-sync/contracts';
import { seedTenant } from '@historical-sync/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiTestContext, auth, createApiTestContext, createTenantKey } from './helpers';

const ENTRIES = 1_000;
const HOUR_MS = 3_600_000;
/** The worker's settings: acknowledged entries go at once; a stream with no group keeps its own. */
const RETENTION = { windowMs: 0, ungroupedWindowMs: HOUR_MS };

describe('POST /admin/streams/detach-group', () => {
  let t: ApiTestContext;
  let tenantKey: string;
  beforeAll(async () => {
    t = await createApiTestContext('streams_detach');
    const { tenantId } = await seedTenant(t.db, {
      tenantName: 'detach',
      organizations: 1,
      memberships: 0,
      creditAllocations: 0,
      app: 'crm',
      seed: 5,
    });
    tenantKey = await createTenantKey(t, tenantId);
  });
  afterAll(async () => {
    await t?.close();
  });

  const detach = (body: object, headers: Record<string, string> = auth) =>
    t.app.inject({ method: 'POST', url: '/admin/streams/detach-group', headers, payload: body });
  const groupsOf = async (stream: string) =>
    ((await t.redis.xinfo('GROUPS', stream)) as unknown[][]).map((fields) =>
      String(fields[fields.indexOf('name') + 1]),
    );
  /** A stream of `ENTRIES` entries. */
  const fill = async (stream: string) => {
    const pipeline = t.redis.pipeline();
    for (let i = 0; i < ENTRIES; i++) pipeline.xadd(stream, '*', 'event', String(i));
    await pipeline.exec();
  };
  /** Reads `count` new entries as `group`, acknowledging them when `ack`. */
  const read = async (stream: string, group: string, count: number, ack: boolean) => {
    const answer = (await t.redis.xreadgroup(
      'GROUP',
      group,
      'c1',
      'COUNT',
      count,
      'STREAMS',
      stream,
      '>',
    )) as [string, [string, string[]][]][];
    const ids = answer[0]?.[1].map(([id]) => id) ?? [];
    if (ack && ids.length) await t.redis.xack(stream, group, ...ids);
    return ids;
  };

  it('is for admin keys only: a tenant key gets 403 and the group stays', async () => {
    const stream = t.streams('crm').memberships;
    await t.redis.xgroup('CREATE', stream, 'kept', '0', 'MKSTREAM');
    const response = await detach(
      { stream, group: 'kept' },
      { authorization: `Bearer ${tenantKey}` },
    );
    expect(response.statusCode).toBe(403);
    expect(await groupsOf(stream)).toEqual(['kept']);
  });

  it("is a 404 naming `stream` for a stream that is not one of the system's, and destroys nothing", async () => {
    // Prefixed like the system's streams, but of an application the system does not have.
    const stream = streamName('org.created', 'nosuchapp', t.settings.streamPrefix);
    await t.redis.xgroup('CREATE', stream, 'theirs', '0', 'MKSTREAM');
    const response = await detach({ stream, group: 'theirs' });
    expect(response.statusCode).toBe(404);
    expect(response.json()).toEqual({
      error: 'not_found',
      message: `stream ${stream} is not one of the system's streams`,
      field: 'stream',
    });
    expect(await groupsOf(stream)).toEqual(['theirs']);
  });

  it('is a 404 naming `group` for a group the stream does not have, and destroys nothing', async () => {
    const stream = t.streams('crm').credits;
    await t.redis.xgroup('CREATE', stream, 'present', '0', 'MKSTREAM');
    const response = await detach({ stream, group: 'absent' });
    expect(response.statusCode).toBe(404);
    expect(response.json()).toEqual({
      error: 'not_found',
      message: `stream ${stream} has no consumer group absent`,
      field: 'group',
    });
    expect(await groupsOf(stream)).toEqual(['present']);
  });

  it('is a 400 naming the field that is missing', async () => {
    const response = await detach({ stream: t.streams('crm').credits });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ field: 'group' });
  });

  it('detaches a known group; the entries it alone held are then trimmed', async () => {
    const stream = t.streams('crm').organizations;
    await fill(stream);
    // `live` has read and acknowledged everything; `gone` read 10 without acknowledging them
    // and never read the rest.
    await t.redis.xgroup('CREATE', stream, 'live', '0');
    await t.redis.xgroup('CREATE', stream, 'gone', '0');
    expect(await read(stream, 'live', ENTRIES, true)).toHaveLength(ENTRIES);
    expect(await read(stream, 'gone', 10, false)).toHaveLength(10);
    // While `gone` is there, retention keeps every entry for it.
    expect(await trimStream(t.redis, stream, RETENTION)).toBe(0);
    expect(await t.redis.xlen(stream)).toBe(ENTRIES);

    const response = await detach({ stream, group: 'gone' });
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json()).toEqual({ stream, group: 'gone', pending: 10, lag: ENTRIES - 10 });
    expect(await groupsOf(stream)).toEqual(['live']);

    // Down to what `live` has not acknowledged: nothing, but the last macro node (XTRIM ~).
    const removed = await trimStream(t.redis, stream, RETENTION);
    const left = await t.redis.xlen(stream);
    expect(removed + left).toBe(ENTRIES);
    expect(left).toBeLessThanOrEqual(100); // stream-node-max-entries

    // Asked again, the group is gone: 404, nothing else touched.
    const again = await detach({ stream, group: 'gone' });
    expect(again.statusCode).toBe(404);
    expect(await groupsOf(stream)).toEqual(['live']);
  });
});
