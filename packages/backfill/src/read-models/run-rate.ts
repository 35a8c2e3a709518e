/**
 * A run's recent publish rate and ETA, from the published counts this process has seen of it.
 * Each read of a run view is an observation; the rate is the change over the last RATE_WINDOW_MS
 * (a live stream observes its run every second). Before two observations a second apart exist, a
 * running run's rate is its average since it started. Memory is bounded: at most MAX_RUNS runs,
 * the least recently observed dropped first, each keeping the observations of one window.
 */
import type { RunStatus } from '@historical-sync/contracts';
import type { RunWithResources } from '../runs/runs';

const RATE_WINDOW_MS = 10_000;
const MIN_SPAN_MS = 1_000;
const MAX_RUNS = 5_000;

interface Observation {
  at: number;
  published: number;
}

export interface RunRate {
  eventsPerSecond: number | null;
  etaSeconds: number | null;
}

export interface RateInput {
  runId: string;
  status: RunStatus;
  published: number;
  total: number | null;
  startedAt: Date | null;
}

export class RunRateTracker {
  private readonly runs = new Map<string, Observation[]>();

  constructor(private readonly now: () => number = Date.now) {}

  /** observe() for a run as runs.ts reads it. */
  observeRun(run: RunWithResources): RunRate {
    return this.observe({
      runId: run.id,
      status: run.status,
      published: run.resources.reduce((sum, r) => sum + r.published, 0),
      total: run.resources.every((r) => r.total !== null)
        ? run.resources.reduce((sum, r) => sum + (r.total ?? 0), 0)
        : null,
      startedAt: run.started_at,
    });
  }

  observe(run: RateInput): RunRate {
    const at = this.now();
    if (run.status !== 'running') {
      this.runs.delete(run.runId);
      return { eventsPerSecond: null, etaSeconds: null };
    }
    const observations = (this.runs.get(run.runId) ?? []).filter(
      (o) => at - o.at <= RATE_WINDOW_MS && o.published <= run.published,
    );
    observations.push({ at, published: run.published });
    // Re-inserted: the Map's order is then least recently observed first.
    this.runs.delete(run.runId);
    this.runs.set(run.runId, observations);
    if (this.runs.size > MAX_RUNS) {
      const oldest = this.runs.keys().next().value;
      if (oldest !== undefined) this.runs.delete(oldest);
    }
    const first = observations[0] as Observation;
    const span = at - first.at;
    const rate =
      span >= MIN_SPAN_MS
        ? ((run.published - first.published) * 1000) / span
        : run.startedAt && at - run.startedAt.getTime() >= MIN_SPAN_MS
          ? (run.published * 1000) / (at - run.startedAt.getTime())
          : null;
    const eventsPerSecond = rate === null ? null : Math.round(rate * 10) / 10;
    const left = run.total === null ? null : Math.max(0, run.total - run.published);
    const etaSeconds =
      left === null || rate === null
        ? null
        : left === 0
          ? 0
          : rate > 0
            ? Math.ceil(left / rate)
            : null;
    return { eventsPerSecond, etaSeconds };
  }
}
