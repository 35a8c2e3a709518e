/**
 * The whole hybrid design, end to end, as separate processes (API, worker, CRM consumer): a tenant
 * with data enables crm while random creates, updates and deletes go through the write API and,
 * beside it, a writer using plain SQL (as psql or an admin script would: multi-row updates,
 * inserts, deactivations, transactions that roll back) during the backfill, and the worker and the
 * CRM consumer are SIGKILLed and restarted mid-run. Once every queue and stream is drained, the
 * CRM's projection equals the wrapper's state for that tenant, row by row. A second test stops the
 * relay (the worker) while both writers go on, and checks the backlog is reported and then
 * delivered once per row version.
 *
 * CI runs it small. A larger run is the same test with bigger numbers, e.g.:
 *   CONVERGENCE_SEEDS=1,2,3,4,5 CONVERGENCE_MEMBERSHIPS=50000 CONVERGENCE_WRITES=3000 npm run test:convergence
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { applicationDrained } from '@historical-sync/backfill/testing';
import { applicationStreams } from '@historical-sync/contracts';
import { createDb, seedTenant } from '@historical-sync/db';
import { createTestDatabase, type TestDatabase } from '@historical-sync/db/testing';
import { findFreePort, seededRandom } from '@historical-sync/local-stack';
import { Redis } from 'ioredis';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Command, killCommand, runApp, waitForApi } from './helpers';

const SEEDS = (process.env.CONVERGENCE_SEEDS ?? '11,22,33').split(',').map(Number);
const MEMBERSHIPS = Number(process.env.CONVERGENCE_MEMBERSHIPS ?? 1_500);
const WRITES = Number(process.env.CONVERGENCE_WRITES ?? 300);
const ADMIN_KEY = 'convergence-admin-key';

class RolledBack extends Error {}

describe('convergence: CRM projection equals the wrapper after backfill + live writes + a crash', () => {
  let wrapper: TestDatabase;
  let crm: TestDatabase;
  let redis: Redis;
  let api: Command | undefined;
  let worker: Command | undefined;
  let consumer: Command | undefined;
  let apiUrl: string;
  const unique = `t${randomBytes(4).toString('hex')}`;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    wrapper = await createTestDatabase('convergence');
    crm = await createTestDatabase('convergence_crm', { migrate: false });
    redis = new Redis(process.env.REDIS_URL as string);
    const port = await findFreePort();
    apiUrl = `http://127.0.0.1:${port}`;
    env = {
      ...process.env,
      DATABASE_URL: wrapper.url,
      CRM_DATABASE_URL: crm.url,
      QUEUE_PREFIX: unique,
      STREAM_PREFIX: `${unique}:`,
      BACKFILL_PAGE_SIZE: '20',
      // Source protection would slow these pages for the other suites' load on a shared test
      // machine; it has its own tests (packages/backfill/test/source-protection.test.ts).
      BACKFILL_SOURCE_PROTECTION: 'off',
      PORT: String(port),
      ADMIN_API_KEY: ADMIN_KEY,
      LOG_LEVEL: 'warn',
      WORKER_LOCK_DURATION_MS: '2000',
      WORKER_STALLED_INTERVAL_MS: '1000',
      RELAY_POLL_INTERVAL_MS: '200',
      CRM_CLAIM_IDLE_MS: '2000',
    };
    api = runApp('api', env);
    worker = runApp('worker', env);
    consumer = runApp('crm-consumer', env);
    await waitForApi(apiUrl, api, 30_000);
  });
  afterAll(async () => {
    for (const command of [api, worker, consumer]) {
      if (command && command.child.exitCode === null) {
        command.child.kill('SIGTERM');
        const exited = await Promise.race([
          command.exit(),
          new Promise((r) => setTimeout(() => r(null), 10_000)),
        ]);
        if (!exited) await killCommand(command);
      }
    }
    const keys = await redis.keys(`*${unique}*`);
    for (let i = 0; i < keys.length; i += 500) await redis.del(...keys.slice(i, i + 500));
    redis.disconnect();
    await crm.destroy();
    await wrapper.destroy();
  });

  const call = async (method: string, path: string, body?: object) => {
    const response = await fetch(`${apiUrl}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${ADMIN_KEY}`,
        ...(body ? { 'content-type': 'application/json' } : {}),
      },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    const json = (await response.json()) as Record<string, unknown>;
    if (response.status >= 500)
      throw new Error(`${method} ${path}: ${response.status} ${JSON.stringify(json)}`);
    return { status: response.status, json };
  };

  /** Random writes through the API until `count` are done; returns how many succeeded. */
  async function randomWrites(tenantId: string, seed: number, count: number) {
    const random = seededRandom(seed);
    const pick = <T>(items: T[]) => items[Math.floor(random() * items.length)];
    const take = <T>(items: T[]) => items.splice(Math.floor(random() * items.length), 1)[0];
    const ids = async (query: string) =>
      (await sql<{ id: string }>`${sql.raw(query)}`.execute(wrapper.db)).rows.map((r) => r.id);
    const orgs = await ids(`SELECT id FROM entities WHERE tenant_id = '${tenantId}' AND is_active`);
    const memberships = await ids(
      `SELECT id FROM organization_memberships WHERE tenant_id = '${tenantId}' AND is_active`,
    );
    const credits = await ids(
      `SELECT id FROM credit_allocations WHERE tenant_id = '${tenantId}' AND is_active`,
    );
    const base = `/admin/organizations/${tenantId}`;
    let ok = 0;
    const one = async (n: number) => {
      const r = random();
      let result: { status: number; json: Record<string, unknown> };
      if (r < 0.2)
        result = await call('PATCH', `${base}/organizations/${pick(orgs)}`, {
          name: `renamed ${n}`,
          industry: random() < 0.5 ? null : 'changed',
        });
      else if (r < 0.25) {
        result = await call('POST', `${base}/organizations`, {
          code: `live-${seed}-${n}`,
          name: `Live ${n}`,
        });
        if (result.status === 201) orgs.push(result.json.id as string);
      } else if (r < 0.28) result = await call('DELETE', `${base}/organizations/${take(orgs)}`);
      else if (r < 0.5) {
        result = await call('POST', `${base}/memberships`, {
          userId: randomUUID(),
          organizationId: pick(orgs),
          role: pick(['member', 'admin']),
        });
        if (result.status === 201) memberships.push(result.json.id as string);
      } else if (r < 0.7) result = await call('DELETE', `${base}/memberships/${take(memberships)}`);
      else if (r < 0.78) {
        result = await call('POST', `${base}/credit-allocations`, {
          entityId: pick(orgs),
          targetApplication: random() < 0.7 ? 'crm' : 'hr',
          amount: 100 + n,
        });
        if (result.status === 201) credits.push(result.json.id as string);
      } else if (r < 0.92)
        result = await call('PATCH', `${base}/credit-allocations/${pick(credits)}`, {
          availableCredits: Math.floor(random() * 100),
        });
      else
        result = await call('POST', `${base}/credit-allocations/${take(credits)}/deactivate`, {
          reason: random() < 0.5 ? 'expired' : 'deactivated',
        });
      if (result.status < 300) ok += 1;
      else expect([400, 404, 409]).toContain(result.status); // e.g. a row deleted by an earlier write
    };
    // Three writers at a time, paced so the writes spread over the backfill.
    for (let n = 0; n < count; n += 3) {
      await Promise.all([one(n), one(n + 1), one(n + 2)]);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    return ok;
  }

  /**
   * Random changes in plain SQL, no service involved (the capture triggers make their events).
   * Returns how many committed; deadlocks with the API's transactions are retried by the caller's
   * next round, like any client would.
   */
  async function rawSqlWrites(tenantId: string, seed: number, count: number) {
    const random = seededRandom(seed * 7919);
    let committed = 0;
    for (let n = 0; n < count; n++) {
      const r = random();
      try {
        if (r < 0.2) {
          // A multi-row UPDATE of a handful of organizations.
          await sql`
            UPDATE entities SET name = 'sql ' || ${n} || ' ' || code,
                                website = ${random() < 0.5 ? null : `https://sql.example/${n}`}
            WHERE id IN (SELECT id FROM entities WHERE tenant_id = ${tenantId} AND is_active
                         ORDER BY md5(id::text || ${n}) LIMIT 4)
          `.execute(wrapper.db);
        } else if (r < 0.4) {
          await sql`
            INSERT INTO organization_memberships (tenant_id, user_id, organization_id, role)
            SELECT ${tenantId}, gen_random_uuid(), id, 'sql-member' FROM entities
            WHERE tenant_id = ${tenantId} AND is_active ORDER BY md5(id::text || ${n}) LIMIT 3
          `.execute(wrapper.db);
        } else if (r < 0.55) {
          await sql`
            UPDATE organization_memberships SET role = 'sql-role-' || ${n}
            WHERE id = (SELECT id FROM organization_memberships
                        WHERE tenant_id = ${tenantId} AND is_active
                        ORDER BY md5(id::text || ${n}) LIMIT 1)
          `.execute(wrapper.db);
        } else if (r < 0.7) {
          await sql`
            UPDATE organization_memberships SET is_active = false
            WHERE id IN (SELECT id FROM organization_memberships
                         WHERE tenant_id = ${tenantId} AND is_active
                         ORDER BY md5(id::text || ${n}) LIMIT 2)
          `.execute(wrapper.db);
        } else if (r < 0.85) {
          await sql`
            UPDATE credit_allocations SET available_credits = ${Math.floor(random() * 50)}
            WHERE id IN (SELECT id FROM credit_allocations
                         WHERE tenant_id = ${tenantId} AND is_active
                         ORDER BY md5(id::text || ${n}) LIMIT 3)
          `.execute(wrapper.db);
        } else if (r < 0.9) {
          await sql`
            UPDATE credit_allocations SET is_active = false
            WHERE id = (SELECT id FROM credit_allocations WHERE tenant_id = ${tenantId} AND is_active
                        ORDER BY md5(id::text || ${n}) LIMIT 1)
          `.execute(wrapper.db);
        } else {
          // Rolled back: none of it may reach the CRM.
          await wrapper.db
            .transaction()
            .execute(async (trx) => {
              await sql`
                UPDATE entities SET name = 'rolled back' WHERE id IN (
                  SELECT id FROM entities WHERE tenant_id = ${tenantId} LIMIT 5)
              `.execute(trx);
              await sql`
                INSERT INTO organization_memberships (tenant_id, user_id, organization_id, role)
                SELECT ${tenantId}, gen_random_uuid(), id, 'rolled back' FROM entities
                WHERE tenant_id = ${tenantId} LIMIT 5
              `.execute(trx);
              throw new RolledBack();
            })
            .catch((error) => {
              if (!(error instanceof RolledBack)) throw error;
            });
          continue;
        }
        committed += 1;
      } catch (error) {
        // A deadlock with a concurrent API transaction: Postgres rolled this statement back.
        if ((error as { code?: string }).code !== '40P01') throw error;
      }
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    return committed;
  }

  const drained = (tenantId: string, runId: string) =>
    applicationDrained(wrapper.db, redis, {
      tenantId,
      runId,
      appCode: 'crm',
      streamPrefix: `${unique}:`,
    });

  async function differences(tenantId: string): Promise<string[]> {
    const crmDb = createDb({ connectionString: crm.url, maxConnections: 1 });
    try {
      const rows = async (db: typeof crmDb, query: string) =>
        (await sql<Record<string, unknown>>`${sql.raw(query)}`.execute(db)).rows;
      const keyed = (list: Record<string, unknown>[]) =>
        new Map(list.map((r) => [r.id as string, JSON.stringify(r)]));
      const diffs: string[] = [];
      const compare = (
        label: string,
        source: Map<string, string>,
        projection: Map<string, string>,
        mustHave: (row: string) => boolean,
      ) => {
        for (const [id, row] of source) {
          const projected = projection.get(id);
          if (projected === undefined) {
            if (mustHave(row)) diffs.push(`${label} ${id} missing in CRM: ${row}`);
          } else if (projected !== row)
            diffs.push(`${label} ${id} differs:\n  wrapper ${row}\n  crm     ${projected}`);
        }
        for (const id of projection.keys())
          if (!source.has(id)) diffs.push(`${label} ${id} in CRM only`);
      };
      const active = (row: string) => JSON.parse(row).is_active === true;
      compare(
        'organization',
        keyed(
          await rows(
            wrapper.db,
            `SELECT id, code, name, description, industry, website, parent_id, is_active, version FROM entities WHERE tenant_id = '${tenantId}' AND entity_type = 'organization' ORDER BY id`,
          ),
        ),
        keyed(
          await rows(
            crmDb,
            `SELECT id, code, name, description, industry, website, parent_id, is_active, version FROM crm_organizations WHERE tenant_id = '${tenantId}' ORDER BY id`,
          ),
        ),
        () => true,
      );
      compare(
        'membership',
        keyed(
          await rows(
            wrapper.db,
            `SELECT id, user_id, organization_id, role, is_active, version FROM organization_memberships WHERE tenant_id = '${tenantId}' ORDER BY id`,
          ),
        ),
        keyed(
          await rows(
            crmDb,
            `SELECT id, user_id, organization_id, role, is_active, version FROM crm_memberships WHERE tenant_id = '${tenantId}' ORDER BY id`,
          ),
        ),
        active,
      );
      compare(
        'credit allocation',
        keyed(
          await rows(
            wrapper.db,
            `SELECT id, entity_id, allocated_amount AS amount, available_credits, expires_at, is_active, version FROM credit_allocations WHERE tenant_id = '${tenantId}' AND target_application = 'crm' ORDER BY id`,
          ),
        ),
        keyed(
          await rows(
            crmDb,
            `SELECT id, entity_id, amount, available_credits, expires_at, is_active, version FROM crm_credit_allocations WHERE tenant_id = '${tenantId}' ORDER BY id`,
          ),
        ),
        active,
      );
      return diffs;
    } finally {
      await crmDb.destroy();
    }
  }

  for (const seed of SEEDS) {
    it(`converges for seed ${seed}`, { timeout: 600_000 }, async () => {
      const { tenantId } = await seedTenant(wrapper.db, {
        tenantName: `convergence-${seed}`,
        organizations: Math.max(10, Math.round(MEMBERSHIPS / 50)),
        memberships: MEMBERSHIPS,
        creditAllocations: Math.max(10, Math.round(MEMBERSHIPS / 25)),
        app: 'crm',
        seed,
      });
      const enabled = await call(
        'POST',
        `/admin/organizations/${tenantId}/applications/crm/toggle`,
        { isEnabled: true },
      );
      const runId = enabled.json.runId as string;
      expect(runId).toBeTruthy();

      const writing = randomWrites(tenantId, seed, WRITES);
      const writingSql = rawSqlWrites(tenantId, seed, Math.ceil(WRITES / 3));
      // Kill the worker once the run is under way, then start a new one.
      await expect
        .poll(
          async () => {
            const rows = await wrapper.db
              .selectFrom('backfill_run_resources')
              .select('published')
              .where('run_id', '=', runId)
              .execute();
            return rows.reduce((sum, r) => sum + r.published, 0);
          },
          { timeout: 60_000, interval: 10 },
        )
        .toBeGreaterThan(MEMBERSHIPS / 5);
      worker?.child.kill('SIGKILL');
      await worker?.exit();
      worker = runApp('worker', env);
      // The CRM consumer dies mid-batch too; its successor (another name in the same group)
      // claims the entries it left pending.
      consumer?.child.kill('SIGKILL');
      await consumer?.exit();
      consumer = runApp('crm-consumer', env);
      const succeeded = await writing;
      expect(succeeded).toBeGreaterThan(WRITES / 2);
      expect(await writingSql).toBeGreaterThan(WRITES / 6);

      await expect
        .poll(() => drained(tenantId, runId), { timeout: 300_000, interval: 250 })
        .toBe('drained');
      expect(await differences(tenantId)).toEqual([]);
    });
  }

  it('delivers every row version once after the relay was down, and reports the backlog meanwhile', {
    timeout: 600_000,
  }, async () => {
    const { tenantId } = await seedTenant(wrapper.db, {
      tenantName: 'relay-down',
      organizations: 10,
      memberships: 300,
      creditAllocations: 20,
      app: 'crm',
      seed: 5,
    });
    const enabled = await call('POST', `/admin/organizations/${tenantId}/applications/crm/toggle`, {
      isEnabled: true,
    });
    const runId = enabled.json.runId as string;
    await expect
      .poll(() => drained(tenantId, runId), { timeout: 300_000, interval: 250 })
      .toBe('drained');

    // The relay is a worker role: stopped (SIGTERM, it finishes its batch), it publishes nothing.
    worker?.child.kill('SIGTERM');
    await worker?.exit();
    const before = await sql<{ last: string }>`
      SELECT coalesce(max(id), 0) AS last FROM outbox
    `.execute(wrapper.db);
    const last = Number(before.rows[0]?.last);
    const [viaApi, viaSql] = await Promise.all([
      randomWrites(tenantId, 99, 60),
      rawSqlWrites(tenantId, 99, 30),
    ]);
    expect(viaApi + viaSql).toBeGreaterThan(30);

    // The backlog is visible: in sync-status for the tenant, and in the metrics for all.
    const unpublished = async (tenant?: string) =>
      Number(
        (
          await sql<{ n: string }>`
            SELECT count(*) AS n FROM outbox WHERE published_at IS NULL AND failed_reason IS NULL
            ${tenant ? sql`AND tenant_id = ${tenant}` : sql``}
          `.execute(wrapper.db)
        ).rows[0]?.n,
      );
    const backlog = await unpublished(tenantId);
    expect(backlog).toBeGreaterThan(30);
    const status = await call(
      'GET',
      `/admin/organizations/${tenantId}/applications/crm/sync-status`,
    );
    const reported = status.json.outboxBacklog as { unpublished: number; oldestAgeMs: number };
    expect(reported.unpublished).toBe(backlog);
    expect(reported.oldestAgeMs).toBeGreaterThan(0);
    const metrics = await fetch(`${apiUrl}/metrics`, {
      headers: { authorization: `Bearer ${ADMIN_KEY}` },
    }).then((r) => r.text());
    expect(metrics).toMatch(new RegExp(`^hs_outbox_backlog_rows ${await unpublished()}$`, 'm'));
    expect(Number(metrics.match(/^hs_outbox_oldest_age_seconds (\S+)$/m)?.[1])).toBeGreaterThan(0);

    worker = runApp('worker', env);
    await expect
      .poll(() => drained(tenantId, runId), { timeout: 300_000, interval: 250 })
      .toBe('drained');

    // Once per row version: every outbox row written while the relay was down is on crm's
    // streams exactly once (credits: those of crm), and nothing else live of this tenant is.
    const written = await sql<{ event_id: string; app: string | null }>`
      SELECT aggregate || ':' || aggregate_id || ':v' || version AS event_id,
             CASE WHEN aggregate = 'credit' THEN event::json -> 'metadata' ->> 'targetApplication' END AS app
      FROM outbox WHERE tenant_id = ${tenantId} AND id > ${last}
    `.execute(wrapper.db);
    expect(written.rows.length).toBe(backlog);
    const delivered = new Map<string, number>();
    for (const stream of applicationStreams('crm', `${unique}:`)) {
      for (const [, fields] of await redis.xrange(stream, '-', '+')) {
        const event = JSON.parse(fields[1] as string) as {
          eventId: string;
          tenantId: string;
          runId: string | null;
          metadata: { targetApplication: string };
        };
        if (event.tenantId !== tenantId || event.runId !== null) continue;
        if (event.metadata.targetApplication !== 'crm') continue;
        delivered.set(event.eventId, (delivered.get(event.eventId) ?? 0) + 1);
      }
    }
    const expected = written.rows.filter((r) => (r.app ?? 'crm') === 'crm').map((r) => r.event_id);
    for (const eventId of expected) expect([eventId, delivered.get(eventId)]).toEqual([eventId, 1]);
    expect(delivered.size).toBe(expected.length);
    expect(await differences(tenantId)).toEqual([]);
  });
});
