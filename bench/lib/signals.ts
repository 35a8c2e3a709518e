/**
 * What source protection saw and did during a phase, sampled every 250 ms (the API's publishing
 * interval): the API processes' published health (their event-loop delay p99 and the mean of their
 * requests waiting for a Postgres connection, read from the keys the workers' guards read) and the
 * running resources' throttled reason, counted by the signal it names. So a phase's figures say
 * which signal acted and for how long, not only that the backfill was slower.
 */
import type { Db } from '@historical-sync/db';
import type { Redis } from 'ioredis';
import { percentile } from './stats';

const SAMPLE_MS = 250;

/** The signal a throttled reason names: its text up to its first figure. */
export function signalOf(reason: string): string {
  if (reason.startsWith('replica lag')) return 'replica lag';
  if (reason.startsWith('API event-loop delay')) return 'API event-loop delay';
  if (reason.startsWith('API requests waiting')) return 'API database queue';
  if (reason.startsWith('query latency') || reason.startsWith('probe still unanswered'))
    return 'query latency';
  if (/active backends/.test(reason)) return 'active backends';
  if (/waiting on locks/.test(reason)) return 'lock waits';
  return reason.replace(/[\d.]+.*$/, '').trim() || reason;
}

export interface SignalSummary {
  samples: number;
  /** The API's published event-loop delay p99 (ms), over the samples: median / p90 / max. */
  apiDelayMs: { p50: number; p90: number; max: number };
  /** The API's mean of requests waiting for a connection, over the samples: median / p90 / max. */
  apiDbWaiting: { p50: number; p90: number; max: number };
  /** The share of each window the API had a connection in use: median / p90 / max. */
  apiBusy: { p50: number; p90: number; max: number };
  /** Seconds a running resource was sampled throttled, by signal. */
  throttledSeconds: Record<string, number>;
}

export function startSignalSampler(
  db: Db,
  redis: Redis,
  queuePrefix: string,
  runIds: () => string[],
) {
  const delays: number[] = [];
  const waiting: number[] = [];
  const busy: number[] = [];
  const throttled: Record<string, number> = {};
  let samples = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      const at = performance.now();
      const keys = await redis.keys(`${queuePrefix}:health:api:*`);
      const values = keys.length ? await redis.mget(...keys) : [];
      let delay = 0;
      let queue = 0;
      let inUse = 0;
      for (const value of values) {
        if (!value) continue;
        const health = JSON.parse(value) as {
          delayP99Ms?: number;
          dbWaitingMean?: number;
          busyShare?: number;
        };
        delay = Math.max(delay, health.delayP99Ms ?? 0);
        queue = Math.max(queue, health.dbWaitingMean ?? 0);
        inUse = Math.max(inUse, health.busyShare ?? 0);
      }
      delays.push(delay);
      waiting.push(queue);
      busy.push(inUse);
      const ids = runIds();
      if (ids.length) {
        const rows = await db
          .selectFrom('backfill_run_resources')
          .select('source_throttle')
          .where('run_id', 'in', ids)
          .where('status', '=', 'running')
          .where('source_throttle', 'is not', null)
          .execute();
        const signals = new Set(rows.map((r) => signalOf(r.source_throttle ?? '')));
        for (const signal of signals)
          throttled[signal] = (throttled[signal] ?? 0) + SAMPLE_MS / 1000;
      }
      samples += 1;
      await new Promise((resolve) =>
        setTimeout(resolve, Math.max(0, SAMPLE_MS - (performance.now() - at))),
      );
    }
  })();
  const spread = (xs: number[]) => {
    const sorted = [...xs].sort((a, b) => a - b);
    return {
      p50: percentile(sorted, 50),
      p90: percentile(sorted, 90),
      max: sorted.at(-1) ?? Number.NaN,
    };
  };
  return {
    async stop(): Promise<SignalSummary> {
      running = false;
      await loop;
      return {
        samples,
        apiDelayMs: spread(delays),
        apiDbWaiting: spread(waiting),
        apiBusy: spread(busy),
        throttledSeconds: throttled,
      };
    },
  };
}

export function describeSignals(s: SignalSummary): string {
  const f = (x: { p50: number; p90: number; max: number }) =>
    `${x.p50.toFixed(1)} / ${x.p90.toFixed(1)} / ${x.max.toFixed(1)}`;
  const acted = Object.entries(s.throttledSeconds)
    .map(([signal, seconds]) => `${signal} ${seconds.toFixed(2)} s`)
    .join(', ');
  return (
    `API event-loop delay p99 (median / p90 / max of ${s.samples} samples) ${f(s.apiDelayMs)} ms; ` +
    `API requests waiting for a connection ${f(s.apiDbWaiting)}; API busy share ${f(s.apiBusy)}; ` +
    `throttled: ${acted || 'never'}`
  );
}
