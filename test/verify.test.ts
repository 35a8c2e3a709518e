/**
 * Verification end to end, as separate processes (API, worker, CRM consumer with its verify
 * responder): a tenant of 200,000 rows backfilled into the CRM is verified in sync (no
 * difference, one round of digests per resource), also while live writes change rows during the
 * verification; then the CRM's projection is damaged in every
 * way at once, and the verification finds exactly the differences a row-by-row SQL comparison of
 * the two databases finds, by kind, reading a small part of the rows one by one; verified with
 * repair, the copy then equals the source row by row, the repair run publishing only the rows
 * that differed, also while live writes go on, and a verification of the repaired copy finds
 * nothing and publishes nothing.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { applicationDrained } from '@historical-sync/backfill/testing';
import { seedTenant } from '@historical-sync/db';
import { createTestDatabase, type TestDatabase } from '@historical-sync/db/testing';
import { findFreePort } from '@historical-sync/local-stack';
import { Redis } from 'ioredis';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Command, callApi, killCommand, runApp, waitForApi } from './helpers';

const ADMIN_KEY = 'verify-admin-key';
const ROWS = { organizations: 10_000, memberships: 180_000, creditAllocations: 10_000 };

interface Report {
  verificationId: string;
  status: string;
  differences: number;
  error: string | null;
  repair: {
    runId: string | null;
    rows: number;
    forgotten: number;
    unrepaired: number;
    error: string | null;
  } | null;
  resources: Record<
    string,
    {
      rowsChecked: number;
      rangesCompared: number;
      leavesCompared: number;
      missing: number;
      stale: number;
      ghost: number;
      differences: { id: string; kind: string }[];
    }
  >;
}

describe('verify: the CRM against the source (API, worker and CRM processes)', () => {
  let wrapper: TestDatabase;
  let crm: TestDatabase;
  let redis: Redis;
  const commands: Command[] = [];
  let apiUrl: string;
  let tenantId: string;
  /** The enable's run: the CRM has caught up once it and every live event are applied. */
  let enabledRunId: string;
  /** Rows the damage test made differ, all kinds. */
  let damaged = 0;
  const unique = `t${randomBytes(4).toString('hex')}`;

  beforeAll(async () => {
    wrapper = await createTestDatabase('verify');
    crm = await createTestDatabase('verify_crm', { migrate: false });
    redis = new Redis(process.env.REDIS_URL as string);
    const port = await findFreePort();
    apiUrl = `http://127.0.0.1:${port}`;
    const env = {
      ...process.env,
      DATABASE_URL: wrapper.url,
      CRM_DATABASE_URL: crm.url,
      QUEUE_PREFIX: unique,
      STREAM_PREFIX: `${unique}:`,
      BACKFILL_SOURCE_PROTECTION: 'off',
      PORT: String(port),
      ADMIN_API_KEY: ADMIN_KEY,
      LOG_LEVEL: 'warn',
    };
    const api = runApp('api', env);
    commands.push(api, runApp('worker', env), runApp('crm-consumer', env));
    await waitForApi(apiUrl, api, 30_000);
    ({ tenantId } = await seedTenant(wrapper.db, {
      tenantName: 'verify',
      app: 'crm',
      seed: 25,
      ...ROWS,
    }));
  }, 120_000);
  afterAll(async () => {
    for (const command of commands) await killCommand(command);
    const keys = await redis.keys(`*${unique}*`);
    for (let i = 0; i < keys.length; i += 500) await redis.del(...keys.slice(i, i + 500));
    redis.disconnect();
    await crm.destroy();
    await wrapper.destroy();
  });

  const call = (method: string, path: string, body?: object) =>
    callApi(apiUrl, ADMIN_KEY, method, path, body);
  const verify = async (body: { repair?: boolean } = {}) => {
    const answer = await call(
      'POST',
      `/admin/organizations/${tenantId}/applications/crm/verify`,
      body,
    );
    expect(answer.status, JSON.stringify(answer.json)).toBe(200);
    const report = answer.json as unknown as Report;
    expect(report.status, report.error ?? '').toBe('completed');
    return report;
  };

  /** Whether `runId` completed and the CRM applied it and every live event. */
  const drained = (runId: string) =>
    applicationDrained(wrapper.db, redis, {
      tenantId,
      runId,
      appCode: 'crm',
      streamPrefix: `${unique}:`,
    });
  /**
   * The rows a repair run listed, the events it published (its own count), and the events of it
   * the CRM received (its dedupe table: the streams are trimmed once read).
   */
  async function repairedRows(runId: string) {
    const listed = await sql<{ resource: string; row_id: string }>`
      SELECT resource, row_id FROM backfill_run_rows WHERE run_id = ${runId}
    `.execute(wrapper.db);
    const run = await call('GET', `/admin/organizations/${tenantId}/sync-runs/${runId}`);
    const received = await sql<{ n: number }>`
      SELECT count(*)::int AS n FROM crm_processed_events WHERE event_id LIKE ${`%:repair:${runId}`}
    `.execute(crm.db);
    return {
      ids: new Set(listed.rows.map((r) => r.row_id)),
      published: run.json.published as number,
      received: received.rows[0]?.n ?? 0,
    };
  }
  const zeroDifferences = (truth: Awaited<ReturnType<typeof oracle>>) =>
    Object.values(truth).map(({ missing, stale, ghost }) => ({ missing, stale, ghost }));

  /** Differences by kind, row by row across the two databases: the oracle. */
  async function oracle() {
    const source = async (query: string) =>
      new Map(
        (
          await sql<{ id: string; version: number }>`${sql.raw(query)}`.execute(wrapper.db)
        ).rows.map((r) => [r.id, r.version]),
      );
    const held = async (table: string) =>
      new Map(
        (
          await sql<{ id: string; version: number }>`
            SELECT id, version FROM ${sql.table(table)} WHERE tenant_id = ${tenantId} AND is_active
          `.execute(crm.db)
        ).rows.map((r) => [r.id, r.version]),
      );
    const pairs = [
      [
        'organizations',
        await source(
          `SELECT id, version FROM entities WHERE tenant_id = '${tenantId}' AND entity_type = 'organization' AND is_active`,
        ),
        await held('crm_organizations'),
      ],
      [
        'memberships',
        await source(
          `SELECT id, version FROM organization_memberships WHERE tenant_id = '${tenantId}' AND is_active`,
        ),
        await held('crm_memberships'),
      ],
      [
        'credits',
        await source(
          `SELECT id, version FROM credit_allocations WHERE tenant_id = '${tenantId}' AND target_application = 'crm' AND is_active`,
        ),
        await held('crm_credit_allocations'),
      ],
    ] as const;
    const out: Record<string, { missing: number; stale: number; ghost: number; rows: number }> = {};
    for (const [resource, s, a] of pairs) {
      const counts = { missing: 0, stale: 0, ghost: 0, rows: s.size };
      for (const [id, version] of s) {
        if (!a.has(id)) counts.missing += 1;
        else if (a.get(id) !== version) counts.stale += 1;
      }
      for (const id of a.keys()) if (!s.has(id)) counts.ghost += 1;
      out[resource] = counts;
    }
    return out;
  }

  it('finds an in-sync copy in sync, in one round of digests', async () => {
    const enabled = await call('POST', `/admin/organizations/${tenantId}/applications/crm/toggle`, {
      isEnabled: true,
    });
    const runId = enabled.json.runId as string;
    enabledRunId = runId;
    await expect
      .poll(
        () =>
          applicationDrained(wrapper.db, redis, {
            tenantId,
            runId,
            appCode: 'crm',
            streamPrefix: `${unique}:`,
          }),
        { timeout: 240_000, interval: 250 },
      )
      .toBe('drained');

    const report = await verify();
    const truth = await oracle();
    expect(report.differences).toBe(0);
    for (const [resource, figures] of Object.entries(report.resources)) {
      expect(figures.rowsChecked, resource).toBe(truth[resource]?.rows);
      // The 16 top ranges, nothing deeper, nothing read row by row.
      expect(figures.rangesCompared, resource).toBe(16);
      expect(figures.leavesCompared, resource).toBe(0);
    }
  }, 300_000);

  it('counts no difference for rows live writes change while it runs', async () => {
    const { rows } = await sql<{ id: string }>`
      SELECT id FROM organization_memberships WHERE tenant_id = ${tenantId} AND is_active
      ORDER BY id LIMIT 2000
    `.execute(wrapper.db);
    const ids = rows.map((r) => r.id);
    // A writer changes memberships the whole time (new versions, delivered by the relay to the
    // CRM), before the verification starts and until it has answered.
    let writing = true;
    let writes = 0;
    const writer = (async () => {
      while (writing) {
        const batch = Array.from({ length: 20 }, (_, i) => ids[(writes * 20 + i) % ids.length]);
        await sql`UPDATE organization_memberships SET role = role WHERE id = ANY(${batch}::uuid[])`.execute(
          wrapper.db,
        );
        writes += 1;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    })();
    try {
      await expect.poll(() => writes, { timeout: 10_000 }).toBeGreaterThan(10);
      const report = await verify();
      expect(report.differences).toBe(0);
      expect(writes).toBeGreaterThan(10);
    } finally {
      writing = false;
      await writer;
    }
    // Every live event applied before the next test damages the CRM's copy.
    await expect
      .poll(
        () =>
          applicationDrained(wrapper.db, redis, {
            tenantId,
            runId: enabledRunId,
            appCode: 'crm',
            streamPrefix: `${unique}:`,
          }),
        { timeout: 120_000, interval: 250 },
      )
      .toBe('drained');
  }, 300_000);

  it('finds every difference of a damaged copy, by kind, as SQL does', async () => {
    const ids = async (table: string, extra = '') =>
      (
        await sql<{ id: string }>`${sql.raw(
          `SELECT id FROM ${table} WHERE tenant_id = '${tenantId}' AND is_active ${extra}`,
        )}`.execute(crm.db)
      ).rows.map((r) => r.id);
    const members = await ids('crm_memberships', 'ORDER BY id');
    // A range of 5,000 consecutive rows dropped, from the middle.
    const range = members.slice(80_000, 85_000);
    const rest = [...members.slice(0, 80_000), ...members.slice(85_000)];
    const pick = (from: string[], n: number, offset: number) =>
      Array.from({ length: n }, (_, i) => from[(offset + i * 997) % from.length] as string);
    const deleted = pick(rest, 100, 11);
    const rolledBack = pick(rest, 100, 13).filter((id) => !deleted.includes(id));
    const flipped = pick(rest, 10, 17).filter(
      (id) => !deleted.includes(id) && !rolledBack.includes(id),
    );
    // The other 10 flips the other way: memberships the source removed, held active again (ghosts
    // the source has, inactive: a repair sends their tombstone).
    const removed = pick(rest, 10, 19).filter(
      (id) => ![...deleted, ...rolledBack, ...flipped].includes(id),
    );
    await sql`UPDATE organization_memberships SET is_active = false WHERE id = ANY(${removed}::uuid[])`.execute(
      wrapper.db,
    );
    await expect
      .poll(() => drained(enabledRunId), { timeout: 120_000, interval: 250 })
      .toBe('drained');
    await expect
      .poll(async () => (await ids('crm_memberships')).filter((id) => removed.includes(id)).length)
      .toBe(0);
    await sql`UPDATE crm_memberships SET is_active = true WHERE id = ANY(${removed}::uuid[])`.execute(
      crm.db,
    );
    const organizations = await ids('crm_organizations', 'ORDER BY id');
    await crm.db
      .deleteFrom('crm_memberships' as never)
      .where('id' as never, 'in', [...range, ...deleted] as never)
      .execute();
    await sql`UPDATE crm_memberships SET version = version - 1 WHERE id = ANY(${rolledBack}::uuid[])`.execute(
      crm.db,
    );
    await sql`UPDATE crm_memberships SET is_active = false WHERE id = ANY(${flipped}::uuid[])`.execute(
      crm.db,
    );
    // 50 ghosts: 40 memberships and 10 organizations the source never had.
    for (let i = 0; i < 50; i++) {
      if (i < 40) {
        await sql`
          INSERT INTO crm_memberships (id, tenant_id, user_id, organization_id, role, is_active, version)
          VALUES (${randomUUID()}, ${tenantId}, ${randomUUID()}, ${organizations[0]}, 'ghost', true, 1)
        `.execute(crm.db);
      } else {
        await sql`
          INSERT INTO crm_organizations (id, tenant_id, code, name, is_active, version)
          VALUES (${randomUUID()}, ${tenantId}, ${`ghost-${i}`}, 'Ghost', true, 1)
        `.execute(crm.db);
      }
    }

    const truth = await oracle();
    expect(truth.memberships).toMatchObject({
      missing: 5_000 + deleted.length + flipped.length,
      ghost: 40 + removed.length,
    });
    damaged = Object.values(truth).reduce((n, t) => n + t.missing + t.stale + t.ghost, 0);
    const report = await verify();
    for (const resource of ['organizations', 'memberships', 'credits']) {
      const found = report.resources[resource];
      const expected = truth[resource];
      expect(
        { missing: found?.missing, stale: found?.stale, ghost: found?.ghost },
        resource,
      ).toEqual({ missing: expected?.missing, stale: expected?.stale, ghost: expected?.ghost });
    }
    const memberships = report.resources.memberships;
    // The cost follows the damage: rows read one by one are a small part of the table.
    expect(memberships?.leavesCompared).toBeLessThan(400);
    expect(
      memberships?.differences.every((d) => ['missing', 'stale', 'ghost'].includes(d.kind)),
    ).toBe(true);
  }, 300_000);

  it('repairs the damaged copy: equal to the source row by row, only the differing rows sent', async () => {
    const report = await verify({ repair: true });
    expect(report.differences).toBe(damaged);
    const repair = report.repair;
    expect(repair?.error ?? null).toBeNull();
    expect(repair?.unrepaired).toBe(0);
    // The 50 ghosts the source never had are forgotten by the CRM, not sent.
    expect(repair?.forgotten).toBe(50);
    expect(repair?.rows).toBe(damaged - 50);
    const runId = repair?.runId as string;
    await expect.poll(() => drained(runId), { timeout: 240_000, interval: 250 }).toBe('drained');

    const truth = await oracle();
    expect(zeroDifferences(truth)).toEqual(
      Object.keys(truth).map(() => ({ missing: 0, stale: 0, ghost: 0 })),
    );
    const sent = await repairedRows(runId);
    // At most 2x the damaged rows plus one leaf (256 rows) per differing range; here exactly the
    // differing rows, each once.
    expect(sent.published).toBe(damaged - 50);
    expect(sent.received).toBe(damaged - 50);
    expect(sent.published).toBeLessThanOrEqual(2 * damaged);
    const run = await call('GET', `/admin/organizations/${tenantId}/sync-runs/${runId}`);
    expect(run.json).toMatchObject({ trigger: 'verify', status: 'completed' });
    const latest = await call(
      'GET',
      `/admin/organizations/${tenantId}/applications/crm/verifications/latest`,
    );
    expect(latest.json).toMatchObject({ verificationId: report.verificationId, repair });
  }, 400_000);

  it('finds nothing in the repaired copy, and publishes nothing', async () => {
    const report = await verify({ repair: true });
    expect(report.differences).toBe(0);
    expect(report.repair).toEqual({
      runId: null,
      rows: 0,
      forgotten: 0,
      unrepaired: 0,
      error: null,
    });
    const runs = await sql<{ n: number }>`
      SELECT count(*)::int AS n FROM backfill_runs WHERE tenant_id = ${tenantId} AND trigger = 'verify'
    `.execute(wrapper.db);
    expect(runs.rows[0]?.n).toBe(1);
  }, 300_000);

  it('repairs while live writes go on: zero differences after, no row repaired only for a live write', async () => {
    const members = (
      await sql<{ id: string }>`
        SELECT id FROM crm_memberships WHERE tenant_id = ${tenantId} AND is_active ORDER BY id
      `.execute(crm.db)
    ).rows.map((r) => r.id);
    // Damage: 300 rows deleted and 100 rolled back, spread over the table.
    const damagedIds = members.filter((_, i) => i % 500 === 7);
    const deleted = damagedIds.slice(0, 300);
    const rolledBack = damagedIds.slice(300, 400);
    await sql`DELETE FROM crm_memberships WHERE id = ANY(${deleted}::uuid[])`.execute(crm.db);
    await sql`UPDATE crm_memberships SET version = version - 1 WHERE id = ANY(${rolledBack}::uuid[])`.execute(
      crm.db,
    );
    // Live writes on other rows the whole time, before the verification starts and until its
    // repair has been applied.
    const live = members.filter((_, i) => i % 500 === 250).slice(0, 300);
    let writing = true;
    let writes = 0;
    const writer = (async () => {
      while (writing) {
        const batch = Array.from({ length: 10 }, (_, i) => live[(writes * 10 + i) % live.length]);
        await sql`UPDATE organization_memberships SET role = role WHERE id = ANY(${batch}::uuid[])`.execute(
          wrapper.db,
        );
        writes += 1;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    })();
    let runId: string;
    try {
      await expect.poll(() => writes, { timeout: 10_000 }).toBeGreaterThan(10);
      const report = await verify({ repair: true });
      expect(report.repair?.error ?? null).toBeNull();
      runId = report.repair?.runId as string;
      expect(runId).toBeTruthy();
      await expect.poll(() => drained(runId), { timeout: 240_000, interval: 250 }).toBe('drained');
    } finally {
      writing = false;
      await writer;
    }
    const sent = await repairedRows(runId);
    const damagedSet = new Set([...deleted, ...rolledBack].map((id) => id.toLowerCase()));
    // Only damaged rows repaired: none of the rows only a live write changed.
    expect([...sent.ids].filter((id) => !damagedSet.has(id))).toEqual([]);
    expect(sent.published).toBeLessThanOrEqual(2 * damagedSet.size);
    await expect
      .poll(() => drained(enabledRunId), { timeout: 120_000, interval: 250 })
      .toBe('drained');
    const truth = await oracle();
    expect(zeroDifferences(truth)).toEqual(
      Object.keys(truth).map(() => ({ missing: 0, stale: 0, ghost: 0 })),
    );
    const after = await verify();
    expect(after.differences).toBe(0);
  }, 400_000);
});
