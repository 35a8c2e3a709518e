/**
 * Fault injection against the real processes and servers: worker processes SIGKILLed and frozen,
 * Redis and Postgres restarted mid-run, a row that is not a valid event. After each, the streams
 * are read back and compared with the rows in Postgres: every row's event exactly once, each run
 * marker once, and the Postgres mirror of the checkpoints (the status endpoint) complete.
 *
 * CI runs it small. A larger run is the same file with bigger numbers, e.g.:
 *   FAULT_ROWS=50000 FAULT_ROUNDS=3 FAULT_KILLS=8 npm run test:faults
 * It prints one markdown table row per fault at the end (docs/RELIABILITY.md).
 */
import { rm } from 'node:fs/promises';
import { RESOURCES, resourceJobId } from '@historical-sync/contracts';
import {
  findFreePort,
  localStateDir,
  type RunningService,
  seededRandom,
  startPostgres,
  startRedis,
} from '@historical-sync/local-stack';
import { sql } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import {
  FaultContext,
  type FaultReport,
  markdownTable,
  type RunAudit,
  type StartedRun,
  sleep,
} from './fault-helpers';

/** Memberships per seeded tenant (organizations and credits in proportion). */
const ROWS = Number(process.env.FAULT_ROWS ?? 4_000);
/** Runs per fault, each on its own tenant with its own fault points. */
const ROUNDS = Number(process.env.FAULT_ROUNDS ?? 1);
/** SIGKILLs per run in the first test. */
const KILLS = Number(process.env.FAULT_KILLS ?? 4);
/** Seeds the data and the fault points: a failure replays with the same FAULT_SEED. */
const SEED = Number(process.env.FAULT_SEED ?? 1);
/** How long Postgres stays down in its restart test (a failover can take a minute). */
const POSTGRES_OUTAGE_MS = Number(process.env.FAULT_POSTGRES_OUTAGE_MS ?? 1_000);
const PAGE_SIZE = 50;
/** Long enough for a large run with its faults; CI's small one takes seconds. */
const TEST_TIMEOUT_MS = 1_800_000;
const RUN_TIMEOUT_MS = 600_000;

const reports: FaultReport[] = [];

function report(fault: string, audits: RunAudit[]) {
  const sum = (f: (a: RunAudit) => number) => audits.reduce((n, a) => n + f(a), 0);
  reports.push({
    fault,
    runs: audits.length,
    expected: sum((a) => a.expected),
    delivered: sum((a) => a.delivered),
    duplicates: sum((a) => a.duplicates),
    losses: sum((a) => a.losses),
  });
}

/** Every row's event exactly once, each marker once, and Postgres's mirror of it complete. */
function expectExactlyOnce(audit: RunAudit) {
  for (const [resource, r] of Object.entries(audit.resources)) {
    expect({ resource, ...r, missing: r.missing.slice(0, 5) }).toEqual({
      resource,
      expected: r.expected,
      delivered: r.expected,
      duplicates: 0,
      missing: [],
      unexpected: [],
      markers: { started: 1, completed: 1 },
      recorded: { status: 'completed', published: r.expected, total: r.expected },
    });
  }
}

/** One round: a fresh tenant and its run, and how many events the run must publish. */
async function startRound(t: FaultContext, name: string, round: number) {
  const run = await t.startRun({
    tenantName: `${name}-${round}`,
    seed: SEED + round,
    memberships: ROWS,
  });
  const expected = await t.expectedIds(run.tenantId, run.appCode);
  const total = Object.values(expected).reduce((n, ids) => n + ids.size, 0);
  return { run, total };
}

/** Audits a completed run, checks it, keeps it for the table, and stops the round's workers. */
async function finishRound(t: FaultContext, run: StartedRun, audits: RunAudit[]) {
  const audit = await t.audit(run);
  expectExactlyOnce(audit);
  audits.push(audit);
  await t.stopWorkers();
}

/** A random point of the run to inject a fault at: between 20% and 70% of its events. */
const faultPoint = (random: () => number, total: number) =>
  Math.floor((0.2 + random() * 0.5) * total);

describe('faults', () => {
  afterAll(() => {
    // One table row per fault, for docs/RELIABILITY.md.
    console.log(
      `\nFaults (FAULT_ROWS=${ROWS} FAULT_ROUNDS=${ROUNDS} FAULT_KILLS=${KILLS} FAULT_SEED=${SEED})\n\n` +
        `${markdownTable(reports)}\n`,
    );
  });

  it('a worker SIGKILLed at random points, repeatedly, during a run: it completes with every row exactly once', {
    timeout: TEST_TIMEOUT_MS,
  }, async () => {
    const t = await FaultContext.create({ label: 'faults_kill', pageSize: PAGE_SIZE });
    const audits: RunAudit[] = [];
    try {
      for (let round = 0; round < ROUNDS; round++) {
        const random = seededRandom(SEED * 1000 + round);
        const { run, total } = await startRound(t, 'kill', round);
        // Kill points: random, increasing event counts in the first 60% of the run (the rest is
        // margin: the kill must land before the run has published everything).
        const points = Array.from({ length: KILLS }, () => 0.05 + random() * 0.55)
          .sort((a, b) => a - b)
          .map((share) => Math.floor(share * total));
        let worker = t.startWorker();
        for (const point of points) {
          const reached = await t.waitForPublished(run, point, RUN_TIMEOUT_MS);
          expect(reached, `the run ended before ${point} events`).toBe(true);
          worker.child.kill('SIGKILL');
          await worker.exit();
          // Killed mid-run: some of the run was still to publish.
          expect(await t.published(run)).toBeLessThan(total);
          worker = t.startWorker();
        }
        await t.waitForRun(run.runId, ['completed'], RUN_TIMEOUT_MS, worker);
        expect(worker.output()).toMatch(/resuming after the last published page/);
        await finishRound(t, run, audits);
      }
    } finally {
      await t.close();
    }
    report(`worker SIGKILLed ${KILLS}× per run at random points`, audits);
  });

  it('a worker frozen (SIGSTOP) past its lock while another takes its job, then thawed: it publishes nothing twice', {
    timeout: TEST_TIMEOUT_MS,
  }, async () => {
    const t = await FaultContext.create({ label: 'faults_stop', pageSize: PAGE_SIZE });
    const audits: RunAudit[] = [];
    try {
      for (let round = 0; round < ROUNDS; round++) {
        const random = seededRandom(SEED * 2000 + round);
        const { run, total } = await startRound(t, 'stop', round);
        const frozen = t.startWorker();
        expect(await t.waitForPublished(run, faultPoint(random, total), RUN_TIMEOUT_MS)).toBe(true);
        const faultAt = new Date();
        frozen.child.kill('SIGSTOP');
        expect(await t.published(run)).toBeLessThan(total);
        // The lock (2 s) expires while frozen; the second worker's stalled-job check takes the job.
        const taker = t.startWorker();
        const completed = await t.waitForRun(run.runId, ['completed'], RUN_TIMEOUT_MS, taker);
        expect(completed.finished_at?.getTime()).toBeGreaterThan(faultAt.getTime());
        expect(taker.output()).toMatch(/resuming after the last published page/);
        // Thawed, it carries on with the page it held, and its attempt stops publishing nothing:
        // the run's barrier, closed when the taker completed the run, refuses the page (or the
        // checkpoint guard does, when the run was not complete yet), or, when it was frozen inside
        // a transaction (its row lock then held up the taker), Postgres has ended that session
        // after the 15 s idle-in-transaction timeout and the attempt stops on the lost connection.
        frozen.child.kill('SIGCONT');
        await frozen.waitFor(
          /run ended \(cancelled, or completed elsewhere\)|another worker owns this job|idle-in-transaction timeout/,
          30_000,
        );
        // Still a healthy process: a graceful stop works.
        frozen.child.kill('SIGTERM');
        expect(await frozen.exit()).toEqual({ code: 0, signal: null });
        expect((await t.waitForRun(run.runId, ['completed'], 1_000)).last_error).toBeNull();
        await finishRound(t, run, audits);
      }
    } finally {
      await t.close();
    }
    report('worker frozen (SIGSTOP) past its lock; another takes over; thawed', audits);
  });

  /**
   * Redis on its own server (AOF on, as docs/RELIABILITY.md recommends), restarted mid-run on the
   * same port and data folder, by `restart`.
   */
  async function redisRestartRounds(
    label: string,
    appendfsync: 'everysec' | 'always',
    restart: (redis: RunningService, t: FaultContext) => Promise<void>,
  ): Promise<RunAudit[]> {
    const dataDir = localStateDir(`faults-${label}-${process.pid}-${Date.now()}`);
    const start = (preferredPort?: number) =>
      startRedis({
        dataDir,
        appendOnly: true,
        extraArgs: ['--appendfsync', appendfsync],
        ...(preferredPort ? { preferredPort } : {}),
      });
    let redis: RunningService | undefined = await start();
    const port = Number(new URL(redis.url).port);
    let t: FaultContext | undefined;
    const audits: RunAudit[] = [];
    try {
      t = await FaultContext.create({ label, pageSize: PAGE_SIZE, redisUrl: redis.url });
      expect(await t.redis.config('GET', 'appendonly')).toEqual(['appendonly', 'yes']);
      expect(await t.redis.config('GET', 'appendfsync')).toEqual(['appendfsync', appendfsync]);
      for (let round = 0; round < ROUNDS; round++) {
        const random = seededRandom(SEED * 3000 + round + (appendfsync === 'always' ? 500 : 0));
        const { run, total } = await startRound(t, label, round);
        const worker = t.startWorker();
        expect(await t.waitForPublished(run, faultPoint(random, total), RUN_TIMEOUT_MS)).toBe(true);
        const faultAt = new Date();
        await restart(redis, t);
        redis = undefined;
        await sleep(1_000);
        redis = await start(port);
        expect(redis.url).toBe(`redis://127.0.0.1:${port}`);
        const completed = await t.waitForRun(run.runId, ['completed'], RUN_TIMEOUT_MS, worker);
        // The fault hit the run in flight, not after it.
        expect(completed.finished_at?.getTime()).toBeGreaterThan(faultAt.getTime());
        await finishRound(t, run, audits);
      }
    } finally {
      await t?.close();
      await redis?.stop();
      await rm(dataDir, { recursive: true, force: true });
    }
    return audits;
  }

  it('Redis (AOF, appendfsync everysec) restarted mid-run: the run completes with every row exactly once', {
    timeout: TEST_TIMEOUT_MS,
  }, async () => {
    const audits = await redisRestartRounds('faults_redis', 'everysec', (redis) => redis.stop());
    report('Redis stopped (SIGTERM) and restarted mid-run; AOF, appendfsync everysec', audits);
  });

  it('Redis (AOF, appendfsync always) SIGKILLed mid-run and restarted: the run completes with every row exactly once', {
    timeout: TEST_TIMEOUT_MS,
  }, async () => {
    const audits = await redisRestartRounds('faults_redis_kill', 'always', async (redis, t) => {
      const pid = Number((await t.redis.info('server')).match(/process_id:(\d+)/)?.[1]);
      expect(pid).toBeGreaterThan(0);
      process.kill(pid, 'SIGKILL');
      await redis.stop(); // resolves once the killed server has exited
    });
    report('Redis SIGKILLed mid-run and restarted; AOF, appendfsync always', audits);
  });

  it('Postgres restarted mid-run: the worker reconnects and the run completes with every row exactly once', {
    timeout: TEST_TIMEOUT_MS,
  }, async () => {
    const dataDir = localStateDir(`faults-postgres-${process.pid}-${Date.now()}`);
    const start = (preferredPort?: number) =>
      startPostgres({ dataDir, database: 'faults', ...(preferredPort ? { preferredPort } : {}) });
    let postgres: RunningService | undefined = await start();
    const port = Number(new URL(postgres.url).port);
    const realDataDir = postgres.dataDir ?? dataDir;
    let t: FaultContext | undefined;
    const audits: RunAudit[] = [];
    try {
      t = await FaultContext.create({
        label: 'faults_postgres',
        pageSize: PAGE_SIZE,
        serverUrl: postgres.url,
      });
      // The API lives through the restarts too: it answers /ready again once Postgres is back.
      const apiPort = await findFreePort();
      const api = t.startApi(apiPort);
      const ready = () =>
        fetch(`http://127.0.0.1:${apiPort}/ready`).then(
          (response) => response.status,
          () => 0,
        );
      await expect.poll(ready, { timeout: 30_000, interval: 100 }).toBe(200);
      for (let round = 0; round < ROUNDS; round++) {
        const random = seededRandom(SEED * 4000 + round);
        const { run, total } = await startRound(t, 'postgres', round);
        const worker = t.startWorker();
        expect(await t.waitForPublished(run, faultPoint(random, total), RUN_TIMEOUT_MS)).toBe(true);
        // A fast shutdown: Postgres ends every session, then stops.
        const faultAt = new Date();
        await postgres.stop();
        postgres = undefined;
        await sleep(POSTGRES_OUTAGE_MS);
        postgres = await start(port);
        expect(new URL(postgres.url).port).toBe(String(port));
        const completed = await t.waitForRun(run.runId, ['completed'], RUN_TIMEOUT_MS, worker);
        // The fault hit the run in flight, and reached the worker, which lived through it.
        expect(completed.finished_at?.getTime()).toBeGreaterThan(faultAt.getTime());
        expect(worker.output()).toMatch(/lost a Postgres connection/);
        expect(worker.child.exitCode).toBeNull();
        // The outage used up no attempt (each job ran once, to completion), so no outage is too
        // long: the jobs wait for Postgres instead of failing the run.
        for (const resource of RESOURCES) {
          const job = await t.queues.resources[resource].getJob(resourceJobId(run.runId, resource));
          expect([resource, await job?.getState(), job?.attemptsMade]).toEqual([
            resource,
            'completed',
            1,
          ]);
        }
        expect(worker.output()).toMatch(
          /no Postgres connection: the job retries shortly without using an attempt/,
        );
        await expect.poll(ready, { timeout: 30_000, interval: 100 }).toBe(200);
        expect(api.child.exitCode).toBeNull();
        await finishRound(t, run, audits);
      }
    } finally {
      await t?.close();
      await postgres?.stop();
      await rm(realDataDir, { recursive: true, force: true });
    }
    report('Postgres stopped (fast shutdown) and restarted mid-run', audits);
  });

  it('a row that is not a valid event fails the run naming it, once; after the fix, a retry completes it exactly once', {
    timeout: TEST_TIMEOUT_MS,
  }, async () => {
    const t = await FaultContext.create({ label: 'faults_invalid', pageSize: PAGE_SIZE });
    const audits: RunAudit[] = [];
    try {
      for (let round = 0; round < ROUNDS; round++) {
        const random = seededRandom(SEED * 5000 + round);
        let badId = '';
        let before: string[] = [];
        const run = await t.startRun({
          tenantName: `invalid-${round}`,
          seed: SEED + round,
          memberships: ROWS,
          // An organization past the first page gets an empty name: the contract rejects it.
          beforeEnable: async (tenantId) => {
            const { rows } = await sql<{ id: string }>`
              SELECT id FROM entities
              WHERE tenant_id = ${tenantId} AND entity_type = 'organization' ORDER BY id
            `.execute(t.db);
            const index = PAGE_SIZE + Math.floor(random() * (rows.length - PAGE_SIZE));
            badId = rows[index]?.id as string;
            // A page is published whole or not at all: the pages before the bad row's.
            before = rows.slice(0, index - (index % PAGE_SIZE)).map((r) => r.id);
            await t.db.updateTable('entities').set({ name: '' }).where('id', '=', badId).execute();
          },
        });
        const worker = t.startWorker();
        const failed = await t.waitForRun(run.runId, ['failed'], RUN_TIMEOUT_MS, worker);
        expect(failed.last_error).toContain(`organizations row ${badId}`);
        expect(failed.last_error).toContain('name');

        // Failed once, not retried (no retry can fix the row), and the worker carries on.
        const job = await t.queues.resources.organizations.getJob(
          resourceJobId(run.runId, 'organizations', 0, 1),
        );
        expect(await job?.getState()).toBe('failed');
        expect(job?.attemptsMade).toBe(1);
        const published = async () => {
          const audit = await t.audit(run);
          const organizations = audit.resources.organizations;
          const missing = new Set(organizations.missing);
          return {
            delivered: organizations.delivered,
            duplicates: organizations.duplicates,
            others: [audit.resources.credits, audit.resources.memberships].map((r) => [
              r.delivered === r.expected,
              r.duplicates,
              r.recorded.status,
            ]),
            // Every row of the pages before the bad row's, exactly once (delivered = before).
            deliveredBefore: before.filter((id) => !missing.has(id)).length,
          };
        };
        // The other resources are not held up by the failed one: they finish.
        await expect
          .poll(async () => (await published()).others, { timeout: RUN_TIMEOUT_MS })
          .toEqual([
            [true, 0, 'completed'],
            [true, 0, 'completed'],
          ]);
        const atFailure = await published();
        expect(atFailure).toEqual({
          delivered: before.length,
          duplicates: 0,
          others: [
            [true, 0, 'completed'],
            [true, 0, 'completed'],
          ],
          deliveredBefore: before.length,
        });
        // No crash loop: a few lock and stall intervals later nothing has moved.
        await sleep(4_000);
        const later = await t.queues.resources.organizations.getJob(job?.id as string);
        expect([await later?.getState(), later?.attemptsMade]).toEqual(['failed', 1]);
        expect(await published()).toEqual(atFailure);
        expect(worker.child.exitCode).toBeNull();
        expect((await t.waitForRun(run.runId, ['failed'], 1_000)).last_error).toBe(
          failed.last_error,
        );

        // The operator fixes the row and retries the job: the run resumes from its checkpoint.
        await t.db
          .updateTable('entities')
          .set({ name: 'Fixed name' })
          .where('id', '=', badId)
          .execute();
        await later?.retry();
        await t.waitForRun(run.runId, ['completed'], RUN_TIMEOUT_MS, worker);
        const events = await t.readRunEvents(run, 'organizations');
        expect(
          events.find((e) => e.eventType === 'org.created' && e.entityId === badId),
        ).toMatchObject({ name: 'Fixed name' });
        await finishRound(t, run, audits);
      }
    } finally {
      await t.close();
    }
    report('a row that is not a valid event (fixed, then the failed job retried)', audits);
  });
});
