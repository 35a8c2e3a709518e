/**
 * Verification, the application's side: the row hash and range digest computed here equal what
 * Postgres computes over the same rows (the source computes its digests in SQL), and the
 * responder answers requests read from the request stream on a real Redis.
 */
import { randomBytes, randomInt, randomUUID } from 'node:crypto';
import {
  type HeldRow,
  type IdRange,
  VERIFY_REQUEST_FIELD,
  type VerifyReply,
  type VerifyRequest,
  verifyReplyKey,
  verifyRequestStream,
} from '@historical-sync/contracts';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  digestRows,
  rowHash,
  type StoredRow,
  startVerifyResponder,
  type VerifyResponder,
  type VerifyRowsQuery,
} from '../src/index';

describe('row hash and range digest', () => {
  it('equal what Postgres computes over the same rows', async () => {
    const client = new pg.Client({ connectionString: process.env.DATABASE_URL });
    await client.connect();
    try {
      // Versions spread over small and large values; some ids repeat with another version.
      const rows: HeldRow[] = Array.from({ length: 3_000 }, () => ({
        id: randomUUID(),
        version: randomInt(0, 2) === 0 ? randomInt(0, 100) : randomInt(0, 2 ** 47),
      }));
      for (let i = 0; i < 50; i++) rows.push({ id: rows[i]?.id as string, version: i + 7 });
      const { rows: result } = await client.query<{ count: string; xor: string | null }>(
        `SELECT count(*)::text AS count,
                bit_xor(uuid_hash_extended(id, version))::text AS xor
           FROM unnest($1::uuid[], $2::bigint[]) AS r(id, version)`,
        [rows.map((r) => r.id), rows.map((r) => String(r.version))],
      );
      expect(digestRows(rows)).toEqual({
        count: Number(result[0]?.count),
        xor: result[0]?.xor,
      });
      // Row by row too, so that a difference cancelled out in the XOR would still show.
      const { rows: hashes } = await client.query<{ h: string }>(
        `SELECT uuid_hash_extended(id, version)::text AS h
           FROM unnest($1::uuid[], $2::bigint[]) WITH ORDINALITY AS r(id, version, n) ORDER BY n`,
        [rows.map((r) => r.id), rows.map((r) => String(r.version))],
      );
      expect(hashes.map((h) => h.h)).toEqual(rows.map((r) => rowHash(r.id, r.version).toString()));
      // Both signs occur, so the signed reading is exercised.
      expect(hashes.some((h) => h.h.startsWith('-'))).toBe(true);
    } finally {
      await client.end();
    }
  });

  it('is count 0 and xor "0" for no rows, and hashes an upper-case id as its lower case', () => {
    expect(digestRows([])).toEqual({ count: 0, xor: '0' });
    const id = randomUUID();
    expect(rowHash(id.toUpperCase(), 3)).toBe(rowHash(id, 3));
  });
});

describe('startVerifyResponder', () => {
  const prefix = `t${randomBytes(4).toString('hex')}:`;
  const appCode = 'app';
  const stream = verifyRequestStream(appCode, prefix);
  const tenantId = randomUUID();
  let redis: Redis;
  // The application's own connection: the test's BLPOP blocks `redis` while waiting.
  let appRedis: Redis;
  let responder: VerifyResponder;
  const malformed: string[] = [];
  const errors: unknown[] = [];
  const expiredIds: string[] = [];
  // The application's store: one tenant's organizations, some inactive (tombstones).
  const store: StoredRow[] = Array.from({ length: 400 }, (_, i) => ({
    id: randomUUID(),
    version: randomInt(1, 50),
    active: i % 5 !== 0,
  }));
  let failing = false;
  const queries: VerifyRowsQuery[] = [];
  const inRange = (id: string, range: IdRange) =>
    id >= range.lo && (range.hi === null || id < range.hi);

  beforeAll(() => {
    redis = new Redis(process.env.REDIS_URL as string);
    appRedis = new Redis(process.env.REDIS_URL as string);
    responder = startVerifyResponder({
      redis: appRedis,
      appCode,
      streamPrefix: prefix,
      consumerName: 'test-1',
      blockMs: 200,
      rows: async (query) => {
        queries.push(query);
        if (failing) throw new Error('the store is away');
        // Yields rows outside the range too, and unsorted: the responder keeps the range's.
        return store;
      },
      forget: ({ rows }) => {
        let dropped = 0;
        for (const { id, version } of rows) {
          const at = store.findIndex((r) => r.id === id && r.version <= version);
          if (at >= 0) {
            store.splice(at, 1);
            dropped += 1;
          }
        }
        return dropped;
      },
      hooks: {
        onMalformed: (entry) => malformed.push(entry.reason),
        onError: (error) => errors.push(error),
        onExpired: (request) => expiredIds.push(request.requestId),
      },
    });
  });
  afterAll(async () => {
    await responder.stop();
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
    appRedis.disconnect();
  });

  type RangeRequest = Extract<VerifyRequest, { ranges: unknown }>;
  const send = async (request: Partial<RangeRequest> & Pick<RangeRequest, 'ranges'>) => {
    const full: RangeRequest = {
      requestId: randomUUID(),
      tenantId,
      resource: 'organizations',
      kind: 'digest',
      deadline: Date.now() + 30_000,
      ...request,
    };
    await redis.xadd(stream, '*', VERIFY_REQUEST_FIELD, JSON.stringify(full));
    return full.requestId;
  };
  /** The reply to a request, waiting for it with BLOCK as the system does. */
  const reply = async (requestId: string, timeoutSeconds = 10): Promise<VerifyReply | null> => {
    const popped = await redis.blpop(verifyReplyKey(appCode, requestId, prefix), timeoutSeconds);
    return popped ? (JSON.parse(popped[1]) as VerifyReply) : null;
  };
  // Entries read but not acknowledged (the acknowledgement follows the reply).
  const pendingCount = async () =>
    ((await redis.xpending(stream, 'verify')) as [number, ...unknown[]])[0];
  const expected = (range: IdRange) =>
    store
      .filter((r) => r.active && inRange(r.id, range))
      .map(({ id, version }) => ({ id, version }))
      .sort((a, b) => (a.id < b.id ? -1 : 1));
  const ranges: IdRange[] = [
    { lo: '00000000-0000-0000-0000-000000000000', hi: '40000000-0000-0000-0000-000000000000' },
    { lo: '40000000-0000-0000-0000-000000000000', hi: 'a0000000-0000-0000-0000-000000000000' },
    { lo: 'a0000000-0000-0000-0000-000000000000', hi: null },
    // An empty range, and one bound on a held id (lo inclusive, hi exclusive).
    { lo: 'ffffffff-ffff-ffff-ffff-fffffffffff0', hi: 'ffffffff-ffff-ffff-ffff-fffffffffff1' },
  ];

  it('answers a digest request with one digest per range, in order, active rows only', async () => {
    const held = [...store].filter((r) => r.active).sort((a, b) => (a.id < b.id ? -1 : 1));
    const pivot = held[10]?.id as string;
    const withBound: IdRange[] = [...ranges, { lo: pivot, hi: held[20]?.id as string }];
    const requestId = await send({ ranges: withBound });
    const answer = await reply(requestId);
    expect(answer).toEqual({ requestId, digests: withBound.map((r) => digestRows(expected(r))) });
    expect(answer?.digests?.[3]).toEqual({ count: 0, xor: '0' });
    expect(answer?.digests?.[4]?.count).toBe(10);
    // Every range covered, together, the whole store's active rows.
    expect(answer?.digests?.slice(0, 3).reduce((n, d) => n + d.count, 0)).toBe(held.length);
    expect(queries.at(-1)).toMatchObject({ tenantId, resource: 'organizations' });
    // The reply list expires on its own if nobody pops it.
    const unread = await send({ ranges: ranges.slice(0, 1) });
    const key = verifyReplyKey(appCode, unread, prefix);
    await expect.poll(() => redis.exists(key)).toBe(1);
    const ttl = await redis.pttl(key);
    expect(ttl).toBeGreaterThan(50_000);
    expect(ttl).toBeLessThanOrEqual(60_000);
  });

  it('answers a rows request with every active row of each range, sorted by id', async () => {
    const requestId = await send({ kind: 'rows', ranges });
    const answer = await reply(requestId);
    expect(answer).toEqual({ requestId, rows: ranges.map(expected) });
    expect(answer?.rows?.flat().length).toBe(store.filter((r) => r.active).length);
  });

  it('forgets rows at or below the version asked, and answers how many it dropped', async () => {
    const [older, newer] = store.filter((r) => r.active);
    if (!older || !newer) throw new Error('the store needs two active rows');
    const before = store.length;
    const request: VerifyRequest = {
      requestId: randomUUID(),
      tenantId,
      resource: 'organizations',
      kind: 'forget',
      // The first at its own version: dropped. The second held at a newer version than asked
      // (the source wrote it meanwhile): kept. The third is not held at all.
      rows: [
        { id: older.id, version: older.version },
        { id: newer.id, version: newer.version - 1 },
        { id: randomUUID(), version: 1 },
      ],
      deadline: Date.now() + 30_000,
    };
    await redis.xadd(stream, '*', VERIFY_REQUEST_FIELD, JSON.stringify(request));
    expect(await reply(request.requestId)).toEqual({ requestId: request.requestId, forgotten: 1 });
    expect(store.length).toBe(before - 1);
    expect(store.some((r) => r.id === older.id)).toBe(false);
    expect(store.some((r) => r.id === newer.id)).toBe(true);
  });

  it('answers a forget request with an error when the application has no forget hook', async () => {
    const other = 'no-forget';
    const bare = startVerifyResponder({
      redis: appRedis,
      appCode: other,
      streamPrefix: prefix,
      consumerName: 'test-2',
      blockMs: 200,
      rows: async () => [],
    });
    try {
      const requestId = randomUUID();
      await redis.xadd(
        verifyRequestStream(other, prefix),
        '*',
        VERIFY_REQUEST_FIELD,
        JSON.stringify({
          requestId,
          tenantId,
          resource: 'memberships',
          kind: 'forget',
          rows: [{ id: randomUUID(), version: 2 }],
          deadline: Date.now() + 30_000,
        } satisfies VerifyRequest),
      );
      const popped = await redis.blpop(verifyReplyKey(other, requestId, prefix), 10);
      expect(JSON.parse(popped?.[1] ?? 'null')).toEqual({
        requestId,
        error: 'this application has no forget hook (startVerifyResponder option `forget`)',
      });
    } finally {
      await bare.stop();
    }
  });

  it('skips a request past its deadline, and answers the next', async () => {
    const expired = await send({ ranges, deadline: Date.now() - 1 });
    const next = await send({ ranges: ranges.slice(0, 1) });
    expect(await reply(next)).toMatchObject({ requestId: next });
    expect(await redis.exists(verifyReplyKey(appCode, expired, prefix))).toBe(0);
    expect(expiredIds).toEqual([expired]);
    // Acknowledged, not left pending.
    await expect.poll(pendingCount).toBe(0);
  });

  it('answers an error when the hook throws', async () => {
    failing = true;
    try {
      const requestId = await send({ ranges });
      expect(await reply(requestId)).toEqual({ requestId, error: 'the store is away' });
    } finally {
      failing = false;
    }
    expect(errors.map(String)).toContain('Error: the store is away');
  });

  it('survives a malformed request, answering its error when it names a request', async () => {
    await redis.xadd(stream, '*', VERIFY_REQUEST_FIELD, 'not json');
    await redis.xadd(stream, '*', 'other', 'field');
    const badId = randomUUID();
    await redis.xadd(
      stream,
      '*',
      VERIFY_REQUEST_FIELD,
      JSON.stringify({ requestId: badId, tenantId: 'nope', kind: 'digest', ranges: [] }),
    );
    const bad = await reply(badId);
    expect(bad?.requestId).toBe(badId);
    expect(bad?.error).toMatch(/malformed request: .*tenantId/);
    const requestId = await send({ ranges: ranges.slice(0, 2) });
    expect(await reply(requestId)).toEqual({
      requestId,
      digests: ranges.slice(0, 2).map((r) => digestRows(expected(r))),
    });
    expect(malformed).toHaveLength(3);
    await expect.poll(pendingCount).toBe(0);
  });

  it('recreates its group when the request stream is deleted under it', async () => {
    const before = await send({ ranges: ranges.slice(0, 1) });
    expect(await reply(before)).toMatchObject({ requestId: before });
    await redis.del(stream);
    // Requests written after the deletion, the first before the group exists again.
    const requestId = await send({ ranges: ranges.slice(2, 3) });
    expect(await reply(requestId)).toEqual({
      requestId,
      digests: [digestRows(expected(ranges[2] as IdRange))],
    });
    const groups = (await redis.xinfo('GROUPS', stream)) as unknown[][];
    expect(groups.map((g) => g[1])).toEqual(['verify']);
  });

  it('acknowledges its own pending request that was trimmed from the stream', async () => {
    // A process read a request, died before answering, and the stream trimmed the entry since:
    // started again under the same name, it reads the entry back without fields. (Last: it stops
    // the responder the other tests use.)
    await expect.poll(pendingCount).toBe(0);
    await responder.stop();
    const trimmed = (await redis.xadd(stream, '*', VERIFY_REQUEST_FIELD, '{}')) as string;
    const reasons: string[] = [];
    const read = (await redis.xreadgroup('GROUP', 'verify', 'test-2', 'STREAMS', stream, '>')) as [
      string,
      [string, string[]][],
    ][];
    expect(read[0]?.[1].map(([id]) => id)).toEqual([trimmed]);
    await redis.xdel(stream, trimmed);
    const restarted = startVerifyResponder({
      redis: appRedis,
      appCode,
      streamPrefix: prefix,
      consumerName: 'test-2',
      blockMs: 200,
      rows: async () => store,
      hooks: { onMalformed: (entry) => reasons.push(`${entry.id} ${entry.reason}`) },
    });
    try {
      await expect.poll(pendingCount).toBe(0);
      expect(reasons).toEqual([`${trimmed} trimmed from the stream before it was answered`]);
      const requestId = await send({ ranges: ranges.slice(0, 1) });
      expect(await reply(requestId)).toMatchObject({ requestId });
    } finally {
      await restarted.stop();
    }
  });
});
