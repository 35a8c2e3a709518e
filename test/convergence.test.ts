/**
 * The whole hybrid design, end to end, as separate processes (API, worker, CRM consumer): a tenant
 * with data enables crm while random creates, updates and deletes go through the write API during
 * the backfill, and the worker and the CRM consumer are SIGKILLed and restarted mid-run. Once every queue and stream is
 * drained, the CRM's projection equals the wrapper's state for that tenant, row by row.
 *
 * CI runs it small. A larger run is the same test with bigger numbers, e.g.:
 *   CONVERGENCE_SEEDS=1,2,3,4,5 CONVERGENCE_MEMBERSHIPS=50000 CONVERGENCE_WRITES=3000 npm run test:convergence
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { consumerGroups } from '@historical-sync/consumer';
import { applicationStreams } from '@historical-sync/contracts';
import { createDb, seedTenant } from '@historical-sync/db';
import { createTestDatabase, type TestDatabase } from '@historical-sync/db/testing';
import { findFreePort } from '@historical-sync/local-stack';
import { Redis } from 'ioredis';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Command, killCommand, runApp } from './helpers';

const SEEDS = (process.env.CONVERGENCE_SEEDS ?? '11,22,33').split(',').map(Number);
const MEMBERSHIPS = Number(process.env.CONVERGENCE_MEMBERSHIPS ?? 1_500);
const WRITES = Number(process.env.CONVERGENCE_WRITES ?? 300);
const ADMIN_KEY = 'convergence-admin-key';

/** A small seeded PRNG (mulberry32): the same seed replays the same writes. */
function prng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

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
    const deadline = Date.now() + 30_000;
    while (
      !(await fetch(`${apiUrl}/health`).then(
        (r) => r.ok,
        () => false,
      ))
    ) {
      if (Date.now() > deadline) throw new Error(`the API did not start:\n${api.output()}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
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
    const random = prng(seed);
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

  async function drained(tenantId: string, runId: string) {
    const run = await wrapper.db
      .selectFrom('backfill_runs')
      .select('status')
      .where('id', '=', runId)
      .executeTakeFirstOrThrow();
    if (run.status !== 'completed') return `run ${run.status}`;
    const outbox = await wrapper.db
      .selectFrom('outbox')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('tenant_id', '=', tenantId)
      .where('published_at', 'is', null)
      .executeTakeFirstOrThrow();
    if (outbox.n > 0) return `outbox ${outbox.n}`;
    for (const stream of applicationStreams('crm', `${unique}:`)) {
      for (const group of await consumerGroups(redis, stream)) {
        if ((group.lag ?? 0) > 0 || group.pending > 0)
          return `${stream} lag ${group.lag} pending ${group.pending}`;
      }
    }
    return 'drained';
  }

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

      await expect
        .poll(() => drained(tenantId, runId), { timeout: 300_000, interval: 250 })
        .toBe('drained');
      expect(await differences(tenantId)).toEqual([]);
    });
  }
});
