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
import { ProbingGovernor } from './probing-governor';
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

export class ReplicaGuard extends ProbingGovernor<ReplicaLagLimit> implements PageGovernor {
  /** The share of full speed pages may take; 1 = not slowed. */
  private share = 1;
  private reasonNow: string | null = null;
  private paused = false;
  /** The latest probe's result, null before the first. */
  lastLag: ReplicaLag | null = null;

  constructor(
    private readonly primary: Db,
    private readonly replica: Db,
    settings: ReplicaLagLimit,
  ) {
    super(settings);
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
    this.asked();
    if (this.paused && this.reasonNow) return { kind: 'pause', reason: this.reasonNow };
    if (this.share < 1 && this.reasonNow) {
      return { kind: 'slow', share: this.share, reason: this.reasonNow };
    }
    return { kind: 'go' };
  }

  protected override probe(): Promise<void> {
    return measureReplicaLag(this.primary, this.replica).then((lag) => this.judge(lag));
  }

  protected override forget(): void {
    this.share = 1;
    this.paused = false;
    this.reasonNow = null;
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
