/**
 * The worker's verification schedule (VERIFY_SCHEDULE, docs/VERIFY.md), as separate processes
 * (API, worker, CRM consumer): with `crm=2s:repair` the worker verifies an enabled, drained tenant
 * by itself, and once the CRM's projection is damaged (rows deleted, versions rolled back) its
 * scheduled verification finds the damage and its repair run makes the copy equal the source (SQL
 * oracle); an application not scheduled is never verified. In the test's own process, against
 * the same Postgres: no schedule verifies nothing; two passes at once verify a tenant once; a
 * verification the application does not answer is recorded and tried again an interval later,
 * not in a loop; a pass is bounded, the most overdue first. And a bad VERIFY_SCHEDULE stops the
 * worker with one line naming it.
 */
import { randomBytes } from 'node:crypto';
import {
  BackfillQueues,
  parseVerifySchedule,
  type ScheduledApplication,
  verifyScheduledPass,
} from '@historical-sync/backfill';
import { applicationDrained } from '@historical-sync/backfill/testing';
import { seedTenant } from '@historical-sync/db';
import { createTestDatabase, type TestDatabase } from '@historical-sync/db/testing';
import { findFreePort } from '@historical-sync/local-stack';
import { Redis } from 'ioredis';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Command, callApi, killCommand, runApp, waitForApi } from './helpers';

const ADMIN_KEY = 'verify-schedule-admin-key';
const ROWS = { organizations: 300, memberships: 3_000, creditAllocations: 300 };

describe('verify schedule: the worker verifies and repairs by itself', () => {
  let wrapper: TestDatabase;
  let crm: TestDatabase;
  let redis: Redis;
  let queues: BackfillQueues;
  const commands: Command[] = [];
  let worker: Command;
  let apiUrl: string;
  let env: NodeJS.ProcessEnv;
  /** Enabled for the CRM, which the worker's schedule names. */
  let tenantId: string;
  /** Enabled for HR, which the worker's schedule does not name. */
  let hrTenantId: string;
  const unique = `t${randomBytes(4).toString('hex')}`;
  const streamPrefix = `${unique}:`;

  beforeAll(async () => {
    wrapper = await createTestDatabase('verify_schedule');
    crm = await createTestDatabase('verify_schedule_crm', { migrate: false });
    redis = new Redis(process.env.REDIS_URL as string);
    queues = new BackfillQueues(redis, unique);
    const port = await findFreePort();
    apiUrl = `http://127.0.0.1:${port}`;
    env = {
      ...process.env,
      DATABASE_URL: wrapper.url,
      CRM_DATABASE_URL: crm.url,
      QUEUE_PREFIX: unique,
      STREAM_PREFIX: streamPrefix,
      BACKFILL_SOURCE_PROTECTION: 'off',
      PORT: String(port),
      ADMIN_API_KEY: ADMIN_KEY,
      LOG_LEVEL: 'warn',
    };
    ({ tenantId } = await seedTenant(wrapper.db, {
      tenantName: 'scheduled',
      app: 'crm',
      seed: 31,
      ...ROWS,
    }));
    hrTenantId = await enabledTenant('hr-only', 'hr');
    const api = runApp('api', env);
    worker = runApp('worker', { ...env, VERIFY_SCHEDULE: 'crm=2s:repair', LOG_LEVEL: 'info' });
    commands.push(api, worker, runApp('crm-consumer', env));
    await waitForApi(apiUrl, api, 30_000);
    await worker.waitFor(/worker started/, 30_000);
  }, 120_000);
  afterAll(async () => {
    for (const command of commands) await killCommand(command);
    await queues?.close();
    const keys = await redis.keys(`*${unique}*`);
    for (let i = 0; i < keys.length; i += 500) await redis.del(...keys.slice(i, i + 500));
    redis.disconnect();
    await crm.destroy();
    await wrapper.destroy();
  });

  /** A small tenant with `app` enabled (no run: nothing to backfill into an application). */
  async function enabledTenant(name: string, app: string) {
    const seeded = await seedTenant(wrapper.db, {
      tenantName: name,
      app,
      seed: 7,
      organizations: 3,
      memberships: 0,
      creditAllocations: 0,
    });
    await sql`
      INSERT INTO organization_applications (tenant_id, application_id, is_enabled, enabled_at)
      SELECT ${seeded.tenantId}, id, true, now() FROM applications WHERE code = ${app}
    `.execute(wrapper.db);
    return seeded.tenantId;
  }

  const verifications = async (tenant: string) =>
    (
      await sql<{
        id: string;
        app_code: string;
        status: string;
        repair: boolean;
        started_at: Date;
        finished_at: Date | null;
        differences: number | null;
        repair_run_id: string | null;
        error: string | null;
      }>`
        SELECT id, app_code, status, repair, started_at, finished_at, repair_run_id, error,
          (SELECT sum((r->>'missing')::int + (r->>'stale')::int + (r->>'ghost')::int)::int
             FROM jsonb_each(report->'resources') AS e(k, r)) AS differences
        FROM verifications WHERE tenant_id = ${tenant} ORDER BY started_at
      `.execute(wrapper.db)
    ).rows;

  /** Scheduled verification lines of the worker's log (pino JSON, one object a line). */
  const scheduledLines = () =>
    worker
      .output()
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((line) => line.msg === 'scheduled verification');

  /** Memberships differing between the source and the CRM, row by row: the oracle. */
  async function membershipDifferences() {
    const source = await sql<{ id: string; version: number }>`
      SELECT id, version FROM organization_memberships WHERE tenant_id = ${tenantId} AND is_active
    `.execute(wrapper.db);
    const held = await sql<{ id: string; version: number }>`
      SELECT id, version FROM crm_memberships WHERE tenant_id = ${tenantId} AND is_active
    `.execute(crm.db);
    const heldVersions = new Map(held.rows.map((r) => [r.id, r.version]));
    const sourceIds = new Set(source.rows.map((r) => r.id));
    return (
      source.rows.filter((r) => heldVersions.get(r.id) !== r.version).length +
      held.rows.filter((r) => !sourceIds.has(r.id)).length
    );
  }

  it('verifies an enabled tenant on its own, and repairs a damaged copy until it equals the source', async () => {
    const enabled = await callApi(
      apiUrl,
      ADMIN_KEY,
      'POST',
      `/admin/organizations/${tenantId}/applications/crm/toggle`,
      { isEnabled: true },
    );
    expect(enabled.status, JSON.stringify(enabled.json)).toBe(200);
    const enableRunId = enabled.json.runId as string;
    await expect
      .poll(
        () =>
          applicationDrained(wrapper.db, redis, {
            tenantId,
            runId: enableRunId,
            appCode: 'crm',
            streamPrefix,
          }),
        { timeout: 120_000, interval: 250 },
      )
      .toBe('drained');
    // Nobody asked: the worker verifies the in-sync copy by itself, and finds it in sync.
    await expect
      .poll(
        async () =>
          (await verifications(tenantId)).some(
            (v) => v.status === 'completed' && v.differences === 0,
          ),
        { timeout: 60_000, interval: 250 },
      )
      .toBe(true);
    expect(await membershipDifferences()).toBe(0);

    // Damage the projection: 40 memberships deleted, 25 rolled back a version.
    const held = await sql<{ id: string }>`
      SELECT id FROM crm_memberships WHERE tenant_id = ${tenantId} AND is_active ORDER BY id
    `.execute(crm.db);
    const ids = held.rows.map((r) => r.id);
    const deleted = ids.filter((_, i) => i % 71 === 3).slice(0, 40);
    const rolledBack = ids.filter((_, i) => i % 97 === 5 && !deleted.includes(ids[i] as string));
    await crm.db.transaction().execute(async (trx) => {
      await sql`DELETE FROM crm_memberships WHERE id = ANY(${deleted}::uuid[])`.execute(trx);
      await sql`UPDATE crm_memberships SET version = version - 1 WHERE id = ANY(${rolledBack.slice(0, 25)}::uuid[])`.execute(
        trx,
      );
    });
    const damaged = await membershipDifferences();
    expect(damaged).toBe(40 + 25);
    const { rows: clock } = await sql<{ now: Date }>`SELECT now() AS now`.execute(wrapper.db);
    const damagedAt = clock[0]?.now.getTime() ?? 0;

    // The worker finds the damage by itself and repairs it: a verification with differences and a
    // repair run, which completes; then the copy equals the source row by row.
    let repairRunId = '';
    await expect
      .poll(
        async () => {
          const found = (await verifications(tenantId)).find(
            (v) =>
              v.started_at.getTime() >= damagedAt &&
              (v.differences ?? 0) > 0 &&
              v.repair_run_id !== null,
          );
          repairRunId = found?.repair_run_id ?? '';
          return repairRunId !== '';
        },
        { timeout: 60_000, interval: 250 },
      )
      .toBe(true);
    await expect
      .poll(
        () =>
          applicationDrained(wrapper.db, redis, {
            tenantId,
            runId: repairRunId,
            appCode: 'crm',
            streamPrefix,
          }),
        { timeout: 120_000, interval: 250 },
      )
      .toBe('drained');
    await expect.poll(() => membershipDifferences(), { timeout: 60_000, interval: 250 }).toBe(0);
    const run = await sql<{ trigger: string; status: string }>`
      SELECT trigger, status FROM backfill_runs WHERE id = ${repairRunId}
    `.execute(wrapper.db);
    expect(run.rows[0]).toEqual({ trigger: 'verify', status: 'completed' });

    const history = await verifications(tenantId);
    // Every one of them the schedule's (repair asked), one at a time.
    expect(history.every((v) => v.app_code === 'crm' && v.repair)).toBe(true);
    for (let i = 1; i < history.length; i++) {
      const previous = history[i - 1];
      expect(previous?.finished_at, 'a verification still running under a later one').not.toBe(
        null,
      );
      expect(history[i]?.started_at.getTime()).toBeGreaterThanOrEqual(
        previous?.finished_at?.getTime() ?? Number.POSITIVE_INFINITY,
      );
    }
    // One log line per scheduled verification: tenant, application, differences, repair run.
    await expect
      .poll(() => scheduledLines().find((line) => line.repairRunId === repairRunId), {
        timeout: 10_000,
      })
      .toMatchObject({ tenantId, appCode: 'crm', status: 'completed' });
    const line = scheduledLines().find((l) => l.repairRunId === repairRunId);
    expect(line?.differences).toBeGreaterThan(0);
    expect(line?.differences).toBeLessThanOrEqual(damaged);
  }, 300_000);

  it('never verifies a tenant for an application the schedule does not name', async () => {
    // The worker keeps verifying the CRM's tenant every 2 s meanwhile: two more passes at least.
    const before = (await verifications(tenantId)).length;
    await expect
      .poll(async () => (await verifications(tenantId)).length, {
        timeout: 60_000,
        interval: 250,
      })
      .toBeGreaterThanOrEqual(before + 2);
    expect(await verifications(hrTenantId)).toEqual([]);
  }, 90_000);

  describe('passes in the test process (no worker of their own)', () => {
    const logger = { warn: () => {} };
    const deps = () => ({
      db: wrapper.db,
      redis,
      queues,
      settings: { streamPrefix, pageSize: 100, maxEventsPerSecond: null },
      logger,
      // HR has no responder here: it never answers, and a verification fails after this.
      answerTimeoutMs: 300,
    });
    const pass = (schedule: ScheduledApplication[], perPass?: number) =>
      verifyScheduledPass({ ...deps(), ...(perPass ? { perPass } : {}) }, schedule);

    it('verifies nothing when VERIFY_SCHEDULE is unset or empty', async () => {
      expect(parseVerifySchedule(undefined)).toEqual([]);
      expect(parseVerifySchedule(' ')).toEqual([]);
      expect(await pass(parseVerifySchedule(''))).toEqual([]);
      expect(await verifications(hrTenantId)).toEqual([]);
    });

    it('verifies a tenant once when two passes run at once, records a failure, retries it an interval later', async () => {
      const hourly = parseVerifySchedule('hr=1h');
      expect(hourly).toEqual([{ appCode: 'hr', intervalMs: 3_600_000, repair: false }]);
      const [a, b] = await Promise.all([pass(hourly), pass(hourly)]);
      const outcomes = [...(a ?? []), ...(b ?? [])];
      // One verified it; the other found it running (skipped) or no longer due.
      expect(outcomes.filter((o) => o.outcome === 'verified')).toHaveLength(1);
      expect(outcomes.every((o) => o.outcome !== 'error')).toBe(true);
      const first = await verifications(hrTenantId);
      expect(first).toHaveLength(1);
      expect(first[0]).toMatchObject({ app_code: 'hr', status: 'failed', repair: false });
      expect(first[0]?.error).toMatch(/^application hr did not answer a verification request/);

      // Not due again within the interval: no loop over a failing application.
      expect(await pass(hourly)).toEqual([]);
      expect(await verifications(hrTenantId)).toHaveLength(1);

      // Due again once its interval has passed since it started.
      const everySecond = parseVerifySchedule('hr=1s');
      await expect
        .poll(
          async () => {
            await pass(everySecond);
            return (await verifications(hrTenantId)).length;
          },
          { timeout: 10_000, interval: 200 },
        )
        .toBe(2);
    });

    it('bounds a pass, the most overdue first (never verified before any)', async () => {
      const fresh = await enabledTenant('hr-fresh', 'hr');
      const everySecond = parseVerifySchedule('hr=1s');
      const tenantsOf = async (perPass: number) =>
        (await pass(everySecond, perPass)).map((o) => o.tenantId);
      // Both due: the other tenant's latest verification started over a second ago.
      await expect
        .poll(
          async () => {
            const { rows } = await sql<{ due: boolean }>`
              SELECT max(started_at) < now() - interval '1 second' AS due
              FROM verifications WHERE tenant_id = ${hrTenantId}
            `.execute(wrapper.db);
            return rows[0]?.due;
          },
          { timeout: 10_000, interval: 100 },
        )
        .toBe(true);
      // The one never verified goes first, alone; the next pass takes the other.
      expect(await tenantsOf(1)).toEqual([fresh]);
      expect(await tenantsOf(1)).toEqual([hrTenantId]);
    });
  });

  it('stops the worker with one line naming VERIFY_SCHEDULE when it is wrong', async () => {
    const bad = runApp('worker', { ...env, VERIFY_SCHEDULE: 'crm=0s' });
    commands.push(bad);
    expect(await bad.exit()).toEqual({ code: 2, signal: null });
    expect(bad.output().trim().split('\n')).toEqual([
      'worker: invalid setting VERIFY_SCHEDULE="crm=0s" (expected a comma list of <application>=<interval>[:repair], the interval a whole number of s, m, h or d (e.g. crm=24h:repair,hr=7d); "crm=0s": the interval must be at least 1s)',
    ]);
    const unknown = runApp('worker', { ...env, VERIFY_SCHEDULE: 'crm=1d:repair,crn=7d' });
    commands.push(unknown);
    expect(await unknown.exit()).toEqual({ code: 2, signal: null });
    expect(unknown.output().trim().split('\n')).toEqual([
      'worker: invalid setting VERIFY_SCHEDULE: no application "crn" (known: affiliate, crm, hr)',
    ]);
  }, 60_000);
});
