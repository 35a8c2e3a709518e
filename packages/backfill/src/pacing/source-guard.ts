/**
 * Source protection: a backfill reads from the production database the platform's API also
 * uses, so each worker process probes that database's health and slows or pauses its pages while
 * it is over a threshold, going back to full speed once it is healthy again. A worker that reads
 * its pages from a replica (docs/REPLICA.md) probes the replica: that is where its reads land.
 *
 * One probe per process (not per job), every `probeIntervalMs` while pages are being published:
 * one query on `pg_stat_activity`, timed from the worker (so the time includes what any client of
 * the database waits: a busy server's run queue, its disk, the network), which also counts the
 * other clients' active backends and the backends waiting on a lock. Over the latency threshold
 * the pages slow down; over the active backends or lock waits threshold they pause until a probe
 * finds the source healthy.
 *
 * How they slow down: the guard holds a share of full speed, cut at each unhealthy probe in
 * proportion to how far over its threshold the signal is (at least by a fifth, at most to a
 * quarter) and raised by a tenth at each healthy one. A job then waits after each page for what
 * keeps its working time at that share (worker/source-wait.ts), so pages are spread evenly rather
 * than sent in bursts between long waits. Raising slowly is the point: the signals arrive a probe
 * or two late and the API's stalls come in bursts, so a guard that went back to full speed at the
 * first healthy probe spent most of a loaded phase at full speed and cut the rate without giving
 * the API its latency back. A guard whose signals stay healthy never slows anything: a backfill
 * beside an API that is not suffering runs at full speed.
 *
 * The same probe reads the API processes' own health (api-health.ts): an API whose event loop
 * runs later than `apiLagMs` slows the pages like a slow query does. On a machine the API shares
 * with its database and the backfill, that is the signal that moves first: the database may
 * still answer within milliseconds while the API, starved of CPU, serves its requests late.
 */
import type { Db } from '@historical-sync/db';
import { sql } from 'kysely';
import type { ApiHealth, ApiHealthReader } from './api-health';
import { ProbingGovernor } from './probing-governor';

export interface SourceProtection {
  /** A probe slower than this (ms) slows the pages; null = not looked at. */
  latencyMs: number | null;
  /** More active backends than this, of other clients than the backfill, pause the pages. */
  maxActiveBackends: number | null;
  /** More backends than this waiting on a lock pause the pages. */
  maxLockWaits: number | null;
  /** How often the source is probed while pages are published. */
  probeIntervalMs: number;
  /** An API process whose event loop runs later than this (ms, p99) slows the pages; null = not looked at. */
  apiLagMs: number | null;
  /**
   * An API process whose requests wait for a Postgres connection, on average more than this many
   * over its last window, slows the pages; null = not looked at.
   */
  apiDbQueue?: number | null;
}

export interface SourceHealth {
  latencyMs: number;
  activeBackends: number;
  lockWaits: number;
}

/**
 * What a page does before it is read and published: go, slow down to `share` (0-1) of the job's
 * full speed, or pause.
 */
export type SourceAdvice =
  | { kind: 'go' }
  | { kind: 'slow'; share: number; reason: string }
  | { kind: 'pause'; reason: string };

/**
 * What the page loop asks before each page (worker/source-wait.ts): this guard, and the governor
 * on replica lag (replica-guard.ts) when pages are read from a replica.
 */
export interface PageGovernor {
  advise(): SourceAdvice;
  /** Counts a wait a page made because of this governor's advice. */
  recordWait(ms: number): void;
  /** How often its advice can change: a paused page looks again this often. */
  readonly probeIntervalMs: number;
}

/**
 * The share of full speed left by an unhealthy probe: at most 0.8 of what it was (a signal just
 * over its threshold), at least 0.25 (one four times over); never below MIN_SHARE, where each
 * page waits the longest source-wait.ts allows (a second).
 */
const MILDEST_CUT = 0.8;
const SHARPEST_CUT = 0.25;
export const MIN_SHARE = 0.01;
/** What each healthy probe gives back: from the floor to full speed in ten probes. */
const SHARE_STEP = 0.1;

export class SourceGuard extends ProbingGovernor<SourceProtection> implements PageGovernor {
  /** The share of full speed pages may take; 1 = not slowed. */
  private share = 1;
  private pauseReason: string | null = null;
  private slowReason: string | null = null;
  /** The latest probe's result, null before the first. */
  lastHealth: SourceHealth | null = null;
  /** The worst API process's health at the latest probe; null when none reported. */
  lastApiHealth: ApiHealth | null = null;

  constructor(
    private readonly db: Db,
    settings: SourceProtection,
    /** Where the API processes' health is read; absent = the API is not looked at. */
    private readonly api?: ApiHealthReader,
  ) {
    super(settings);
  }

  /** Why pages are throttled now, null when they go at full speed. */
  get reason(): string | null {
    return this.pauseReason ?? this.slowReason;
  }

  /** Asked before each page. Starts the probe when it is not running. */
  advise(): SourceAdvice {
    this.asked();
    if (this.pauseReason) return { kind: 'pause', reason: this.pauseReason };
    if (this.share < 1 && this.slowReason) {
      return { kind: 'slow', share: this.share, reason: this.slowReason };
    }
    return { kind: 'go' };
  }

  protected override probe(): Promise<void> {
    return Promise.all([probeSource(this.db), this.probeApi()]).then(([health, api]) =>
      this.judge(health, api),
    );
  }

  protected override forget(): void {
    this.share = 1;
    this.pauseReason = null;
    this.slowReason = null;
  }

  /** A probe still out past the threshold is itself the answer: the source is slow now. */
  protected override stillProbing(outForMs: number): void {
    const { latencyMs } = this.settings;
    if (latencyMs !== null && outForMs > latencyMs) {
      this.slowDown(
        `probe still unanswered after ${Math.round(outForMs)} ms`,
        outForMs / latencyMs,
      );
    }
  }

  /** Redis unreachable or no API reporting: the API is not the reason to wait. */
  private async probeApi(): Promise<ApiHealth | null> {
    if (!this.api || (this.settings.apiLagMs === null && !this.settings.apiDbQueue)) return null;
    return this.api.worst().catch(() => null);
  }

  private judge(health: SourceHealth, api: ApiHealth | null): void {
    this.probes += 1;
    this.lastHealth = health;
    this.lastApiHealth = api;
    const { latencyMs, maxActiveBackends, maxLockWaits, apiLagMs, apiDbQueue } = this.settings;
    if (maxActiveBackends !== null && health.activeBackends > maxActiveBackends) {
      this.pauseReason = `${health.activeBackends} active backends > ${maxActiveBackends}`;
    } else if (maxLockWaits !== null && health.lockWaits > maxLockWaits) {
      this.pauseReason = `${health.lockWaits} backends waiting on locks > ${maxLockWaits}`;
    } else {
      this.pauseReason = null;
    }
    if (latencyMs !== null && health.latencyMs > latencyMs) {
      this.slowDown(
        `query latency ${Math.round(health.latencyMs)} ms > ${latencyMs} ms`,
        health.latencyMs / latencyMs,
      );
    } else if (api && apiLagMs !== null && api.delayP99Ms > apiLagMs) {
      this.slowDown(
        `API event-loop delay ${Math.ceil(api.delayP99Ms)} ms > ${apiLagMs} ms`,
        api.delayP99Ms / apiLagMs,
      );
    } else if (api && apiDbQueue && api.dbWaitingMean > apiDbQueue) {
      this.slowDown(
        `API requests waiting for a database connection: ${api.dbWaitingMean} > ${apiDbQueue}`,
        api.dbWaitingMean / apiDbQueue,
      );
    } else {
      // Rounded so that ten steps from the floor make exactly full speed.
      this.share = Math.min(1, Math.round((this.share + SHARE_STEP) * 1000) / 1000);
      if (this.share >= 1) this.slowReason = null;
    }
  }

  /** `over`: the signal over its threshold (1.5 = half as much again). */
  private slowDown(reason: string, over: number): void {
    const cut = Math.min(MILDEST_CUT, Math.max(SHARPEST_CUT, 1 / over));
    this.share = Math.max(MIN_SHARE, this.share * cut);
    this.slowReason = reason;
  }
}

/**
 * One round trip: the clients' backends of this database other than the backfill's own (those
 * with the same application name), active or waiting on a lock.
 */
export async function probeSource(db: Db): Promise<SourceHealth> {
  const started = performance.now();
  const { rows } = await sql<{ active: number; lock_waits: number }>`
    SELECT
      count(*) FILTER (WHERE state = 'active')::int AS active,
      count(*) FILTER (WHERE wait_event_type = 'Lock')::int AS lock_waits
    FROM pg_stat_activity
    WHERE backend_type = 'client backend' AND datname = current_database()
      AND pid <> pg_backend_pid()
      AND application_name IS DISTINCT FROM current_setting('application_name')
  `.execute(db);
  const row = rows[0];
  return {
    latencyMs: performance.now() - started,
    activeBackends: row?.active ?? 0,
    lockWaits: row?.lock_waits ?? 0,
  };
}
