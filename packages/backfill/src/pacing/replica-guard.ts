/**
 * The governor on replica lag: when pages are read from a streaming replica, each worker process
 * probes how far the replica's data is behind its primary (replica-lsn.ts) and slows its pages
 * while the lag is over `maxLagMs`, and pauses them (the jobs park) while it is over twice that,
 * going back to full speed once the replica has caught up.
 *
 * Why: the lag does not make a backfill wrong (a partition's pages wait until the replica has
 * replayed its run's enablement, and what changes after that arrives as live events), but a
 * replica that falls behind serves every other reader stale data, and a backfill's long reads
 * compete with its replay for the disk and the CPU. The slowdown works as source protection's
 * does (source-guard.ts): a share of full speed, halved by every probe over the threshold and
 * doubled by every probe under it, which each job keeps by waiting after its pages.
 */
import type { Db } from '@historical-sync/db';
import { formatBytes, measureReplicaLag, type ReplicaLag } from './replica-lsn';
import { MIN_SHARE, type PageGovernor, type SourceAdvice } from './source-guard';

export interface ReplicaLagLimit {
  /** A lag over this (ms) slows the pages, over twice this pauses them. */
  maxLagMs: number;
  /** How often the lag is probed while pages are published. */
  probeIntervalMs: number;
}

/** The first slowdown: the pages at half speed. */
const FIRST_SHARE = 0.5;
/** The probe stops when no page has asked for this long, and the guard forgets its state. */
const IDLE_AFTER_MS = 5_000;

export class ReplicaGuard implements PageGovernor {
  /** The share of full speed pages may take; 1 = not slowed. */
  private share = 1;
  private reasonNow: string | null = null;
  private paused = false;
  private lastAsked = 0;
  private probing: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** Seconds pages have waited for the replica, summed over the process's jobs. */
  throttledSeconds = 0;
  /** The latest probe's result, null before the first. */
  lastLag: ReplicaLag | null = null;
  probes = 0;

  constructor(
    private readonly primary: Db,
    private readonly replica: Db,
    readonly settings: ReplicaLagLimit,
  ) {}

  get probeIntervalMs(): number {
    return this.settings.probeIntervalMs;
  }

  /** Why pages are throttled now, null when they go at full speed. */
  get reason(): string | null {
    return this.reasonNow;
  }

  /** What the guard advises now, without counting as a page's question (for tests and metrics). */
  get state(): SourceAdvice['kind'] {
    return this.paused ? 'pause' : this.share < 1 ? 'slow' : 'go';
  }

  /** Asked before each page. Starts the probe when it is not running. */
  advise(): SourceAdvice {
    this.lastAsked = Date.now();
    if (!this.timer) {
      this.timer = setInterval(() => this.tick(), this.settings.probeIntervalMs);
      this.timer.unref();
      this.tick();
    }
    if (this.paused && this.reasonNow) return { kind: 'pause', reason: this.reasonNow };
    if (this.share < 1 && this.reasonNow) {
      return { kind: 'slow', share: this.share, reason: this.reasonNow };
    }
    return { kind: 'go' };
  }

  /** Counts a wait a page made because of the replica (for the metrics). */
  recordWait(ms: number): void {
    this.throttledSeconds += ms / 1000;
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private tick(): void {
    if (Date.now() - this.lastAsked > IDLE_AFTER_MS) {
      this.stop();
      this.share = 1;
      this.paused = false;
      this.reasonNow = null;
      return;
    }
    if (this.probing) return;
    this.probing = measureReplicaLag(this.primary, this.replica)
      .then((lag) => this.judge(lag))
      .catch(() => {
        // An unreachable replica fails the page query itself; the job's fault handling waits.
      })
      .finally(() => {
        this.probing = undefined;
      });
  }

  private judge(lag: ReplicaLag): void {
    this.probes += 1;
    this.lastLag = lag;
    const { maxLagMs } = this.settings;
    if (lag.lagMs > maxLagMs) {
      this.paused = lag.lagMs > 2 * maxLagMs;
      this.share = Math.max(MIN_SHARE, Math.min(FIRST_SHARE, this.share / 2));
      const over = this.paused ? `${seconds(2 * maxLagMs)}, twice the limit` : seconds(maxLagMs);
      this.reasonNow = `replica lag: ${seconds(lag.lagMs)} > ${over} (${formatBytes(lag.bytesBehind)} of WAL to replay)`;
    } else {
      this.paused = false;
      this.share = Math.min(1, this.share * 2);
      if (this.share === 1) this.reasonNow = null;
    }
  }
}

const seconds = (ms: number) =>
  Number.isFinite(ms) ? `${(ms / 1000).toFixed(1)} s` : 'unknown (nothing replayed yet)';
