/**
 * The API under load while a backfill runs: a second run (memberships again), measured apart from
 * the headline figure so the load generator does not slow the run it measures. First the idle
 * baseline, then full speed alone and beside the load, then capped; last the same with the
 * default settings (source protection on) in a worker of its own.
 */
import { findFreePort } from '@historical-sync/local-stack';
import { p99Bound, toggleBuckets } from './api-time';
import { type BenchTarget, type Fleet, retire } from './bench-apps';
import { type PacedLoadResult, pacedLoadInChild as pacedLoad } from './paced-load';
import { startApp } from './processes';
import { say, sleep } from './say';
import { describeSignals, type SignalSummary, startSignalSampler } from './signals';
import { explainStalls, startStallProbe } from './stall-probe';
import { round } from './stats';

export interface UnderBackfill {
  toggle: PacedLoadResult;
  status: PacedLoadResult;
  runs: number;
  /** Every run's events over the phase's time. */
  eventsPerSecond: number;
  throttledAtEnd: string | null;
  signals: SignalSummary;
  stalls: string;
  /** The API's own time for the toggle (its histogram): the p99's bucket bound in ms. */
  toggleServerP99Ms: number;
}

type RunView = {
  status: string;
  published: number;
  startedAt: string | null;
  finishedAt: string | null;
  resources: Record<string, { status: string; throttled?: string | null }>;
};

const IDLE: PacedLoadResult = {
  sent: 0,
  achievedRate: 0,
  non2xx: 0,
  errors: 0,
  p50: 0,
  p99: 0,
  max: 0,
  slow: [],
};

/** The load and the backfills it runs beside, for phases of `seconds` each. */
function loadDriver(t: BenchTarget, seconds: number) {
  const { redis, base, headers, tenantId, prefix } = t;
  const toggleAt500 = (loadSeconds: number) =>
    pacedLoad({
      url: `${base}/admin/organizations/${t.otherTenant}/applications/crm/toggle`,
      method: 'POST',
      headers,
      body: JSON.stringify({ isEnabled: true }),
      rate: 500,
      seconds: loadSeconds,
    });
  const runUrl = (id: string) => `${base}/admin/organizations/${tenantId}/sync-runs/${id}`;
  const view = async (id: string) =>
    (await (await fetch(runUrl(id), { headers })).json()) as RunView;
  /**
   * A memberships backfill kept running for the phase's length (capped at `rate` if given): a run
   * that completes before the phase ends is followed by another, so the phase's figures are
   * taken beside a backfill from its start to its end. With `load`, the toggle and status load
   * of the API runs meanwhile. The rate is every run's events over the phase's time.
   */
  const underBackfill = async (rate: number | undefined, load = true): Promise<UnderBackfill> => {
    // Drop the earlier runs' streams (memory), never the queues' keys: jobs may still be live.
    const streams = [
      ...(await redis.keys(`${prefix}:crm:*`)),
      ...(await redis.keys(`${prefix}:credit-events`)),
    ];
    if (streams.length) await redis.unlink(...streams);
    const runIds: string[] = [];
    const startRun = async () => {
      const started = await fetch(
        `${base}/admin/organizations/${tenantId}/applications/crm/sync-historical`,
        {
          method: 'POST',
          headers,
          body: JSON.stringify({
            syncCredits: false,
            syncOrganizations: false,
            ...(rate ? { maxEventsPerSecond: rate } : {}),
          }),
        },
      );
      const { runId } = (await started.json()) as { runId: string };
      runIds.push(runId);
    };
    const phaseStarted = performance.now();
    await startRun();
    let loading = true;
    const keepRunning = (async () => {
      while (loading) {
        const id = runIds.at(-1) as string;
        if ((await view(id)).status === 'completed') await startRun();
        else await sleep(50);
      }
    })();
    const probe = startStallProbe(t.db, redis);
    const signals = startSignalSampler(t.db, redis, prefix, () => runIds.slice(-1));
    const bucketsBefore = await toggleBuckets(base, headers);
    const [toggle, status]: [PacedLoadResult, PacedLoadResult] = load
      ? await Promise.all([
          toggleAt500(seconds),
          pacedLoad({
            url: `${base}/admin/organizations/${t.otherTenant}/applications/crm/sync-status`,
            headers,
            rate: 50,
            seconds,
          }),
        ])
      : await sleep(seconds * 1000).then(() => [IDLE, IDLE]);
    loading = false;
    const phaseMs = performance.now() - phaseStarted;
    const toggleServerP99Ms = p99Bound(bucketsBefore, await toggleBuckets(base, headers));
    await keepRunning;
    const signalSummary = await signals.stop();
    const stalls = explainStalls(toggle.slow, await probe.stop());
    const last = runIds.at(-1) as string;
    const lastView = await view(last);
    const views = await Promise.all(runIds.map(view));
    const published = views.reduce((sum, v) => sum + v.published, 0);
    await fetch(`${runUrl(last)}/cancel`, { method: 'POST', headers });
    // The next phase starts once this run's jobs have stopped publishing.
    for (let i = 0; i < 300; i++) {
      const v = await view(last);
      if (Object.values(v.resources).every((r) => r.status !== 'running')) break;
      await sleep(100);
    }
    return {
      toggle,
      status,
      runs: runIds.length,
      eventsPerSecond: published / (phaseMs / 1000),
      throttledAtEnd: lastView.resources.memberships?.throttled ?? null,
      signals: signalSummary,
      stalls,
      toggleServerP99Ms,
    };
  };
  return { toggleAt500, underBackfill };
}

const describeLoad = (load: PacedLoadResult) =>
  `${round(load.achievedRate)} req/s p50 ${round(load.p50, 1)} ms p99 ${round(load.p99, 1)} ms max ${round(load.max)} ms (${load.non2xx + load.errors} failed)`;
const describeUnder = (label: string, load: UnderBackfill) =>
  say(
    `API ${label} (${load.runs} run${load.runs > 1 ? 's, one after the other' : ''}): ` +
      `toggle at 500/s ${describeLoad(load.toggle)}, the API's own time p99 <= ${load.toggleServerP99Ms} ms; sync-status at 50/s ${describeLoad(load.status)}; ` +
      `backfill ${round(load.eventsPerSecond)} events/s\n  toggle stalls: ${load.stalls}\n  signals: ${describeSignals(load.signals)}`,
  );
const describeAlone = (label: string, load: UnderBackfill) =>
  say(
    `backfill ${label}, no API load (${load.runs} runs): ${round(load.eventsPerSecond)} events/s\n  signals: ${describeSignals(load.signals)}`,
  );

export interface ApiLoadFigures {
  toggleIdle: PacedLoadResult;
  /** The API's own time for the idle toggles: the p99's bucket bound in ms. */
  toggleIdleServerP99Ms: number;
  /** Full speed with no API load: what the default settings must keep (>= 90%) there. */
  alone: UnderBackfill;
  unthrottled: UnderBackfill;
  /** Beside a backfill capped at `cappedRate` (absent when that is 0). */
  throttled?: UnderBackfill;
}

/** The unprotected worker's phases: idle baseline, full speed alone and beside load, capped. */
export async function apiLoadPhase(
  t: BenchTarget,
  seconds: number,
  cappedRate: number,
): Promise<ApiLoadFigures> {
  const { toggleAt500, underBackfill } = loadDriver(t, seconds);
  // Warm-up on the measured route (JIT, connection pools), then the baseline: the same load
  // with no backfill running.
  await toggleAt500(2);
  const probe = startStallProbe(t.db, t.redis);
  const signals = startSignalSampler(t.db, t.redis, t.prefix, () => []);
  const bucketsBefore = await toggleBuckets(t.base, t.headers);
  const toggleIdle = await toggleAt500(Math.min(5, seconds));
  const toggleIdleServerP99Ms = p99Bound(bucketsBefore, await toggleBuckets(t.base, t.headers));
  const stalls = explainStalls(toggleIdle.slow, await probe.stop());
  say(
    `API baseline, no backfill running: toggle at 500/s ${describeLoad(toggleIdle)}, the API's own time p99 <= ${toggleIdleServerP99Ms} ms\n  toggle stalls: ${stalls}\n  signals: ${describeSignals(await signals.stop())}`,
  );
  const alone = await underBackfill(undefined, false);
  describeAlone('at full speed', alone);
  const unthrottled = await underBackfill(undefined);
  describeUnder('during a backfill at full speed', unthrottled);
  if (!cappedRate) return { toggleIdle, toggleIdleServerP99Ms, alone, unthrottled };
  const throttled = await underBackfill(cappedRate);
  describeUnder(`during a backfill capped at ${cappedRate} events/s`, throttled);
  return { toggleIdle, toggleIdleServerP99Ms, alone, unthrottled, throttled };
}

export interface ProtectionFigures {
  protectedRun: UnderBackfill;
  protectedAlone: UnderBackfill;
  /** Seconds pages waited for the source during the loaded run (the worker's own counter). */
  throttledSeconds: number;
}

/**
 * Source protection: the same load during a backfill with the default settings, in a worker
 * process of its own (protection is a process setting) that replaces the unprotected one.
 */
export async function protectionPhase(
  t: BenchTarget,
  fleet: Fleet,
  seconds: number,
  unprotected: ApiLoadFigures,
): Promise<ProtectionFigures> {
  const { underBackfill } = loadDriver(t, seconds);
  await retire(fleet, fleet.running);
  const metricsPort = await findFreePort();
  const guarded = startApp('worker', {
    ...fleet.env,
    WORKER_ROLES: 'runs,credits,organizations,memberships',
    WORKER_METRICS_PORT: String(metricsPort),
  });
  fleet.apps.push(guarded);
  fleet.running = guarded;
  const throttledTotal = async () => {
    for (let i = 0; ; i++) {
      try {
        const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
        return Number(text.match(/^hs_backfill_source_throttled_seconds_total (\S+)$/m)?.[1]);
      } catch (error) {
        if (i > 1200) throw error;
        await sleep(100);
      }
    }
  };
  const before = await throttledTotal();
  const protectedRun = await underBackfill(undefined);
  const throttledSeconds = (await throttledTotal()) - before;
  describeUnder('during a default-settings backfill (source protection on)', protectedRun);
  const protectedAlone = await underBackfill(undefined, false);
  describeAlone('with the default settings (source protection on)', protectedAlone);
  const { toggleIdle, unthrottled, alone } = unprotected;
  const p99Target = 2 * toggleIdle.p99 + 10;
  say(
    `source protection: toggle p99 ${round(protectedRun.toggle.p99, 1)} ms beside it, ${round(protectedRun.toggle.p99 / toggleIdle.p99, 2)}x the idle p99 ` +
      `(target <= 2x idle + 10 ms = ${round(p99Target, 1)} ms: ${protectedRun.toggle.p99 <= p99Target ? 'met' : 'missed'}); ` +
      `rate ${round((100 * protectedRun.eventsPerSecond) / unthrottled.eventsPerSecond)}% of the unprotected backfill's beside the same load (target >= 50%); ` +
      `with no API load ${round((100 * protectedAlone.eventsPerSecond) / alone.eventsPerSecond)}% of full speed (target >= 90%); ` +
      `pages waited ${round(throttledSeconds, 1)} s in all for the source under load; at the end: ${protectedRun.throttledAtEnd ?? 'not throttled'}`,
  );
  return { protectedRun, protectedAlone, throttledSeconds };
}
