/**
 * The CRM process answers verification requests from its own tables: rows written into them
 * come back as digests equal to `digestRows` of what was written, range by range, without
 * tombstones or other tenants' rows, and as sorted lists for a rows request. Its range query is
 * served by the (tenant_id, id) index: only the range is read, in order, with no sort.
 */
import { randomBytes, randomInt, randomUUID } from 'node:crypto';
import { digestRows } from '@historical-sync/consumer';
import {
  type HeldRow,
  type IdRange,
  type Resource,
  VERIFY_REQUEST_FIELD,
  type VerifyReply,
  type VerifyRequest,
  verifyReplyKey,
  verifyRequestStream,
} from '@historical-sync/contracts';
import { createPool } from '@historical-sync/db';
import { createTestDatabase, type TestDatabase } from '@historical-sync/db/testing';
import { Redis } from 'ioredis';
import { Kysely, PostgresDialect, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CrmDatabase, CrmDb } from '../src/schema';
import { RESOURCE_TABLES, rangeQuery } from '../src/verify';
import { type Command, runCrm, waitFor } from './helpers';

interface Written extends HeldRow {
  tenantId: string;
  active: boolean;
}

describe('CRM verification responder', () => {
  const prefix = `t${randomBytes(4).toString('hex')}:`;
  const tenantId = randomUUID();
  const otherTenant = randomUUID();
  let crmDb: TestDatabase;
  let db: CrmDb;
  let redis: Redis;
  let crm: Command | undefined;
  const written = new Map<Resource, Written[]>();

  beforeAll(async () => {
    crmDb = await createTestDatabase('crm_verify', { migrate: false });
    redis = new Redis(process.env.REDIS_URL as string);
    crm = runCrm('src/main.ts', {
      ...process.env,
      CRM_DATABASE_URL: crmDb.url,
      STREAM_PREFIX: prefix,
      CRM_CONSUMER_NAME: 'crm-verify-test',
    });
    await waitFor(
      () => /crm consumer started/.test(crm?.output() ?? ''),
      30_000,
      'the CRM consumer to start',
    );
    db = new Kysely<CrmDatabase>({
      dialect: new PostgresDialect({
        pool: createPool({ connectionString: crmDb.url, maxConnections: 2 }),
      }),
    });
    // Written directly, as the projection would have: this tenant's rows (a fifth of them
    // tombstones) and another tenant's, which no answer may include.
    for (const resource of Object.keys(RESOURCE_TABLES) as Resource[]) {
      const rows: Written[] = Array.from({ length: 300 }, (_, i) => ({
        id: randomUUID(),
        version: randomInt(1, 1_000),
        tenantId: i % 10 === 9 ? otherTenant : tenantId,
        active: i % 5 !== 0,
      }));
      written.set(resource, rows);
      await sql`
        INSERT INTO ${sql.table(RESOURCE_TABLES[resource])} (id, tenant_id, version, is_active)
        SELECT * FROM unnest(${rows.map((r) => r.id)}::uuid[], ${rows.map((r) => r.tenantId)}::uuid[],
                             ${rows.map((r) => r.version)}::bigint[], ${rows.map((r) => r.active)}::boolean[])
      `.execute(db);
    }
  });
  afterAll(async () => {
    await crm?.stop();
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
    await db?.destroy();
    await crmDb.destroy();
  });

  /** Sends a request as the system does and waits for the CRM's answer. */
  const send = async (request: VerifyRequest): Promise<VerifyReply> => {
    await redis.xadd(
      verifyRequestStream('crm', prefix),
      '*',
      VERIFY_REQUEST_FIELD,
      JSON.stringify(request),
    );
    const popped = await redis.blpop(verifyReplyKey('crm', request.requestId, prefix), 20);
    if (!popped) throw new Error(`no answer to ${request.kind} request for ${request.resource}`);
    return JSON.parse(popped[1]) as VerifyReply;
  };
  const ask = (resource: Resource, kind: 'digest' | 'rows', ranges: IdRange[]) =>
    send({
      requestId: randomUUID(),
      tenantId,
      resource,
      kind,
      ranges,
      deadline: Date.now() + 30_000,
    });
  /** What the CRM holds of the tenant in a range, as written: active rows, sorted by id. */
  const held = (resource: Resource, range: IdRange): HeldRow[] =>
    (written.get(resource) ?? [])
      .filter(
        (r) =>
          r.tenantId === tenantId &&
          r.active &&
          r.id >= range.lo &&
          (range.hi === null || r.id < range.hi),
      )
      .map(({ id, version }) => ({ id, version }))
      .sort((a, b) => (a.id < b.id ? -1 : 1));
  // Bounds on held ids (inclusive below, exclusive above), an open end and an empty range.
  const rangesOf = (resource: Resource): IdRange[] => {
    const ids = held(resource, { lo: '00000000-0000-0000-0000-000000000000', hi: null }).map(
      (r) => r.id,
    );
    return [
      { lo: '00000000-0000-0000-0000-000000000000', hi: ids[40] as string },
      { lo: ids[40] as string, hi: ids[41] as string },
      { lo: ids[41] as string, hi: ids[150] as string },
      { lo: ids[150] as string, hi: null },
      { lo: ids[100] as string, hi: ids[100] as string },
    ];
  };

  it('answers digests equal to digestRows of the rows written, for each resource', async () => {
    for (const resource of Object.keys(RESOURCE_TABLES) as Resource[]) {
      const ranges = rangesOf(resource);
      const answer = await ask(resource, 'digest', ranges);
      expect(answer.error).toBeUndefined();
      expect(answer.digests).toEqual(ranges.map((range) => digestRows(held(resource, range))));
      expect(answer.digests?.map((d) => d.count).slice(0, 2)).toEqual([40, 1]);
      expect(answer.digests?.[4]).toEqual({ count: 0, xor: '0' });
      // The ranges cover the id space: every active row of the tenant, no tombstone, no other
      // tenant's row.
      const active = (written.get(resource) ?? []).filter(
        (r) => r.tenantId === tenantId && r.active,
      ).length;
      expect(answer.digests?.slice(0, 4).reduce((n, d) => n + d.count, 0)).toBe(active);
    }
  });

  it('answers a changed row with a changed digest', async () => {
    const ranges = rangesOf('memberships');
    const target = held('memberships', ranges[0] as IdRange)[5] as HeldRow;
    await sql`UPDATE crm_memberships SET version = version + 1 WHERE id = ${target.id}`.execute(db);
    const row = written.get('memberships')?.find((r) => r.id === target.id) as Written;
    const before = digestRows(held('memberships', ranges[0] as IdRange));
    row.version += 1;
    const answer = await ask('memberships', 'digest', ranges.slice(0, 2));
    expect(answer.digests?.[0]).toEqual(digestRows(held('memberships', ranges[0] as IdRange)));
    expect(answer.digests?.[0]).not.toEqual(before);
  });

  it('answers a rows request with the active rows of each range, sorted by id', async () => {
    const ranges = rangesOf('credits');
    const answer = await ask('credits', 'rows', ranges);
    expect(answer).toEqual({
      requestId: answer.requestId,
      rows: ranges.map((range) => held('credits', range)),
    });
  });

  it("forgets the rows asked at or below their version, and only the tenant's", async () => {
    const rows = (written.get('credits') ?? []).filter((r) => r.active);
    const mine = rows.filter((r) => r.tenantId === tenantId);
    const [atVersion, newer] = mine;
    const theirs = rows.find((r) => r.tenantId === otherTenant);
    if (!atVersion || !newer || !theirs) throw new Error('the store needs these rows');
    const request: VerifyRequest = {
      requestId: randomUUID(),
      tenantId,
      resource: 'credits',
      kind: 'forget',
      rows: [
        { id: atVersion.id, version: atVersion.version },
        // Held at a newer version than the verification saw: kept.
        { id: newer.id, version: newer.version - 1 },
        // Another tenant's row: never this tenant's to forget.
        { id: theirs.id, version: theirs.version },
      ],
      deadline: Date.now() + 30_000,
    };
    expect(await send(request)).toEqual({ requestId: request.requestId, forgotten: 1 });
    const { rows: left } = await sql<{ id: string }>`
      SELECT id FROM crm_credit_allocations WHERE id = ANY(${[atVersion.id, newer.id, theirs.id]}::uuid[])
    `.execute(db);
    expect(left.map((r) => r.id).sort()).toEqual([newer.id, theirs.id].sort());
    written.set(
      'credits',
      (written.get('credits') ?? []).filter((r) => r.id !== atVersion.id),
    );
  });

  it('reads a range through the (tenant_id, id) index, without sorting', async () => {
    const range = rangesOf('organizations')[2] as IdRange;
    const plan = await db.connection().execute(async (conn) => {
      // Few rows here: without this the planner may rightly prefer reading the whole table.
      await sql`SET enable_seqscan = off`.execute(conn);
      const { rows } = await sql<{ 'QUERY PLAN': unknown }>`
        EXPLAIN (FORMAT JSON) ${rangeQuery('organizations', tenantId, range)}
      `.execute(conn);
      await sql`RESET enable_seqscan`.execute(conn);
      return JSON.stringify(rows[0]?.['QUERY PLAN']);
    });
    expect(plan).toContain('"Index Name":"crm_organizations_tenant_id"');
    expect(plan).toMatch(/"Index Cond":"\(\(tenant_id = .*\) AND \(id >= /);
    expect(plan).not.toContain('"Node Type":"Sort"');
  });
});
