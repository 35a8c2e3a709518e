/**
 * Fault injection against the real processes and servers: worker processes SIGKILLed and frozen,
 * Redis and Postgres restarted mid-run, a row that is not a valid event. After each, the streams
 * are read back and compared with the rows in Postgres: every row's event exactly once.
 *
 * CI runs it small. A larger run is the same file with bigger numbers, e.g.:
 *   FAULT_ROWS=50000 FAULT_ROUNDS=3 FAULT_KILLS=8 npm run test:faults
 * It prints one markdown table row per fault at the end (docs/RELIABILITY.md).
 */
import { afterAll, describe, expect, it } from 'vitest';
import {
  FaultContext,
  type FaultReport,
  markdownTable,
  prng,
  type RunAudit,
} from './fault-helpers';

/** Memberships per seeded tenant (organizations and credits in proportion). */
const ROWS = Number(process.env.FAULT_ROWS ?? 4_000);
/** Runs per fault, each on its own tenant with its own fault points. */
const ROUNDS = Number(process.env.FAULT_ROUNDS ?? 1);
/** SIGKILLs per run in the first test. */
const KILLS = Number(process.env.FAULT_KILLS ?? 4);
const SEED = Number(process.env.FAULT_SEED ?? 1);
const PAGE_SIZE = 50;
/** Long enough for a large run with its faults; CI's small one takes seconds. */
const TEST_TIMEOUT_MS = 600_000;

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

/** Every row's event exactly once, and each marker once per resource. */
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

describe('faults', () => {
  afterAll(() => {
    // One table row per fault, for docs/RELIABILITY.md.
    console.log(
      `\nFaults (FAULT_ROWS=${ROWS} FAULT_ROUNDS=${ROUNDS} FAULT_KILLS=${KILLS})\n\n${markdownTable(reports)}\n`,
    );
  });

  it('a worker SIGKILLed at random points, repeatedly, during a run: it completes with every row exactly once', {
    timeout: TEST_TIMEOUT_MS,
  }, async () => {
    const t = await FaultContext.create({ label: 'faults_kill', pageSize: PAGE_SIZE });
    const audits: RunAudit[] = [];
    try {
      for (let round = 0; round < ROUNDS; round++) {
        const random = prng(SEED * 1000 + round);
        const run = await t.startRun({
          tenantName: `kill-${round}`,
          seed: SEED + round,
          memberships: ROWS,
        });
        const expected = await t.expectedIds(run.tenantId, run.appCode);
        const total = Object.values(expected).reduce((n, ids) => n + ids.size, 0);
        // Kill points: random, increasing event counts within the run.
        const points = Array.from({ length: KILLS }, () => 0.05 + random() * 0.8)
          .sort((a, b) => a - b)
          .map((share) => Math.floor(share * total));
        let worker = t.startWorker();
        for (const point of points) {
          const reached = await t.waitForPublished(run, point);
          expect(reached, `the run ended before ${point} events`).toBe(true);
          worker.child.kill('SIGKILL');
          await worker.exit();
          // Killed mid-run: some of the run was still to publish.
          expect(await t.published(run)).toBeLessThan(total);
          worker = t.startWorker();
        }
        await t.waitForRun(run.runId, ['completed'], 120_000, () => worker.output());
        const audit = await t.audit(run);
        expectExactlyOnce(audit);
        audits.push(audit);
        await t.stopWorkers();
      }
    } finally {
      await t.close();
    }
    report(`worker SIGKILLed ${KILLS}× per run at random points`, audits);
  });

  it('a worker frozen (SIGSTOP) past the stall timeout while another takes its job, then resumed: nothing published twice', {
    timeout: TEST_TIMEOUT_MS,
  }, async () => {
    const t = await FaultContext.create({ label: 'faults_stop', pageSize: PAGE_SIZE });
    const audits: RunAudit[] = [];
    try {
      for (let round = 0; round < ROUNDS; round++) {
        const random = prng(SEED * 2000 + round);
        const run = await t.startRun({
          tenantName: `stop-${round}`,
          seed: SEED + round,
          memberships: ROWS,
        });
        const expected = await t.expectedIds(run.tenantId, run.appCode);
        const total = Object.values(expected).reduce((n, ids) => n + ids.size, 0);
        const frozen = t.startWorker();
        expect(await t.waitForPublished(run, Math.floor((0.2 + random() * 0.5) * total))).toBe(
          true,
        );
        frozen.child.kill('SIGSTOP');
        const atFreeze = await t.published(run);
        const taker = t.startWorker();
        await t.waitForRun(run.runId, ['completed'], 120_000, () => taker.output());
        expect(taker.output()).toMatch(/resuming after the last published page/);
        expect(atFreeze).toBeLessThan(total);
        // Thawed, it carries on with the page it held; the checkpoint guard refuses it.
        frozen.child.kill('SIGCONT');
        await frozen.waitFor(/another worker owns this job/, 30_000);
        // Still a healthy process: a graceful stop works.
        frozen.child.kill('SIGTERM');
        expect(await frozen.exit()).toEqual({ code: 0, signal: null });
        expect((await t.waitForRun(run.runId, ['completed'], 1_000)).last_error).toBeNull();
        const audit = await t.audit(run);
        expectExactlyOnce(audit);
        audits.push(audit);
        await t.stopWorkers();
      }
    } finally {
      await t.close();
    }
    report('worker frozen (SIGSTOP) past the lock, resumed after another finished its job', audits);
  });
});
