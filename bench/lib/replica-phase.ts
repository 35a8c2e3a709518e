/**
 * The bench's replica phase: a streaming replica of the bench's Postgres (pg_basebackup -R), a
 * worker of its own reading pages from it (BACKFILL_DATABASE_URL), and a full re-sync of the
 * tenant through it. Measures the CPU the primary spends per event then, to set against the
 * headline run's, whose pages were all read from the primary; and the replica's own.
 */
import { BackfillSettingsEnv } from '@historical-sync/backfill';
import { findFreePort, startReplica } from '@historical-sync/local-stack';
import type { Redis } from 'ioredis';
import { cpuDelta, cpuSnapshot, type ServerPorts } from './cpu';
import { type AppProcess, startApp } from './processes';
import { runEnd } from './run-end';
import { sleep } from './say';

export interface ReplicaPhaseResult {
  events: number;
  seconds: number;
  /** How long the base backup took (the replica's data copied from the primary). */
  backupSeconds: number;
  /** CPU seconds during the run: the primary's Postgres, the replica's, the worker's. */
  cpu: { primary: number; replica: number; worker: number };
  /**
   * The largest replica lag the worker's governor saw during the run (ms; its
   * `hs_backfill_replica_lag_seconds`, read every 100 ms), and the limit it slows the pages over.
   */
  maxLagMs: number;
  lagLimitMs: number;
}

export async function replicaPhase(options: {
  databaseUrl: string;
  redis: Redis;
  base: string;
  headers: Record<string, string>;
  tenantId: string;
  prefix: string;
  env: NodeJS.ProcessEnv;
  primaryPorts: ServerPorts;
  /** Apps started here are added, so the bench's stop covers them. */
  apps: AppProcess[];
}): Promise<ReplicaPhaseResult> {
  const { redis, base, headers, tenantId, prefix } = options;
  const backupStarted = performance.now();
  const replica = await startReplica({ url: options.databaseUrl });
  try {
    const backupSeconds = (performance.now() - backupStarted) / 1000;
    const replicaUrl = new URL(replica.url);
    replicaUrl.pathname = new URL(options.databaseUrl).pathname;
    const metricsPort = await findFreePort();
    const worker = startApp('worker', {
      ...options.env,
      WORKER_METRICS_PORT: String(metricsPort),
      WORKER_ROLES: 'runs,credits,organizations,memberships',
      BACKFILL_DATABASE_URL: replicaUrl.toString(),
      // As the headline run: unprotected, so the two differ only in where pages are read.
      BACKFILL_SOURCE_PROTECTION: 'off',
      // For its ready line: the run starts once it serves the queues, so its start-up (loading
      // the code) counts neither in the run's time nor in its CPU.
      LOG_LEVEL: 'info',
    });
    options.apps.push(worker);
    await waitForOutput(worker, /worker started/);
    // Drop the earlier runs' streams (memory), never the queues' keys.
    const streams = [
      ...(await redis.keys(`${prefix}:crm:*`)),
      ...(await redis.keys(`${prefix}:credit-events`)),
    ];
    if (streams.length) await redis.unlink(...streams);
    const replicaPorts = { postgres: Number(replicaUrl.port) };
    const snapshot = () =>
      Promise.all([
        cpuSnapshot(worker.child.pid, options.primaryPorts),
        cpuSnapshot(undefined, replicaPorts),
      ]);
    const before = await snapshot();
    const started = performance.now();
    const response = await fetch(
      `${base}/admin/organizations/${tenantId}/applications/crm/sync-historical`,
      { method: 'POST', headers, body: JSON.stringify({}) },
    );
    const { runId } = (await response.json()) as { runId: string };
    const lag = sampleLag(metricsPort);
    const run = await runEnd<{ status: string; published: number }>(options, runId, worker);
    const seconds = (performance.now() - started) / 1000;
    const maxLagMs = await lag.stop();
    const after = await snapshot();
    if (run.status !== 'completed') throw new Error(`run ${run.status}: ${worker.output()}`);
    const onPrimary = cpuDelta(before[0], after[0]);
    const onReplica = cpuDelta(before[1], after[1]);
    await worker.stop();
    return {
      events: run.published,
      seconds,
      backupSeconds,
      cpu: {
        primary: onPrimary.postgres ?? 0,
        replica: onReplica.postgres ?? 0,
        worker: onPrimary.worker ?? 0,
      },
      maxLagMs,
      lagLimitMs: BackfillSettingsEnv.parse(options.env).BACKFILL_REPLICA_MAX_LAG_MS,
    };
  } finally {
    await replica.stop();
  }
}

/**
 * The worker's replica lag gauge, every 100 ms until stopped: the largest value (ms). The gauge
 * reads -1 while the replica has replayed nothing since it started (an unknown lag): that counts
 * as over any limit, so it is reported as infinite.
 */
function sampleLag(port: number) {
  let max = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      const text = await fetch(`http://127.0.0.1:${port}/metrics`)
        .then((r) => r.text())
        .catch(() => '');
      const value = text.match(/^hs_backfill_replica_lag_seconds (\S+)$/m)?.[1];
      if (value !== undefined) {
        const seconds = Number(value);
        max = Math.max(max, seconds < 0 ? Number.POSITIVE_INFINITY : seconds * 1000);
      }
      await sleep(100);
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return max;
    },
  };
}

async function waitForOutput(app: AppProcess, pattern: RegExp, timeoutMs = 120_000) {
  const deadline = Date.now() + timeoutMs;
  while (!pattern.test(app.output())) {
    if (app.child.exitCode !== null) throw new Error(`the worker exited: ${app.output()}`);
    if (Date.now() > deadline) throw new Error(`no ${pattern} within ${timeoutMs} ms`);
    await sleep(50);
  }
}
