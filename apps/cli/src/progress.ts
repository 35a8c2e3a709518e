/**
 * Progress arithmetic and formatting for `status --watch`, kept pure (no clock, no terminal) so
 * the numbers a user relies on are unit tested.
 */
import {
  ENDED_RUN_STATUSES,
  RESOURCES,
  type Resource,
  type ResourceProgress,
  type RunView,
} from '@historical-sync/contracts';

/** What one poll saw: when, and how many events the run had published by then. */
export interface Sample {
  atMs: number;
  published: number;
}

/**
 * Events per second between the oldest sample still inside `windowMs` and the newest. A window
 * (instead of the whole history) lets the rate follow a pause, a resume or a throttle change;
 * with a poll interval longer than the window, the previous sample is used. Null until two
 * samples exist.
 */
export function measureRate(samples: readonly Sample[], windowMs = 10_000): number | null {
  const last = samples.at(-1);
  if (!last || samples.length < 2) return null;
  let index = samples.findIndex((sample) => last.atMs - sample.atMs <= windowMs);
  index = Math.min(index, samples.length - 2);
  const first = samples[index];
  if (!first || last.atMs <= first.atMs) return null;
  return Math.max(0, ((last.published - first.published) * 1000) / (last.atMs - first.atMs));
}

/** Milliseconds until `total` at `rate`; null when unknowable (no total, or nothing moving). */
export function estimateEtaMs(
  published: number,
  total: number | null,
  rate: number | null,
): number | null {
  if (total === null) return null;
  const remaining = Math.max(0, total - published);
  if (remaining === 0) return 0;
  if (rate === null || rate <= 0) return null;
  return Math.ceil((remaining / rate) * 1000);
}

/** `42s`, `3m 05s`, `2h 07m`. */
export function formatDuration(ms: number): string {
  const seconds = Math.ceil(ms / 1000);
  if (seconds < 60) return `${seconds}s`;
  const pad = (n: number) => String(n).padStart(2, '0');
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m ${pad(seconds % 60)}s`;
  return `${Math.floor(seconds / 3600)}h ${pad(Math.floor((seconds % 3600) / 60))}m`;
}

export function formatRate(rate: number): string {
  return `${rate < 10 ? rate.toFixed(1) : formatCount(Math.round(rate))} ev/s`;
}

/** Fixed locale, so output is the same on every machine (and in tests). */
export function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}

export function renderBar(percent: number | null, width: number): string {
  const filled = percent === null ? 0 : Math.round((width * Math.min(100, percent)) / 100);
  return `[${'█'.repeat(filled)}${'░'.repeat(width - filled)}]`;
}

export function formatPercent(percent: number | null): string {
  return `${percent === null ? '?' : percent}%`.padStart(4);
}

export function formatFraction(published: number, total: number | null): string {
  return `${formatCount(published)}/${total === null ? '?' : formatCount(total)}`;
}

export interface ProgressLineInput {
  status: string;
  published: number;
  total: number | null;
  percent: number | null;
  /** Events per second, null before the second poll. */
  rate: number | null;
  barWidth: number;
}

/**
 * `[██████░░░░]  60%  600/1,000  running  120 ev/s  ETA 4s`. Rate and ETA only while the run
 * is active: for a finished run they would describe the past.
 */
export function formatProgressLine(input: ProgressLineInput): string {
  const parts = [
    renderBar(input.percent, input.barWidth),
    formatPercent(input.percent),
    formatFraction(input.published, input.total),
    input.status,
  ];
  if (!(ENDED_RUN_STATUSES as readonly string[]).includes(input.status)) {
    parts.push(input.rate === null ? '-- ev/s' : formatRate(input.rate));
    const eta =
      input.status === 'paused' ? null : estimateEtaMs(input.published, input.total, input.rate);
    parts.push(`ETA ${eta === null ? '--' : formatDuration(eta)}`);
  }
  return parts.join('  ');
}

/**
 * A run's resources in the usual order (credits, organizations, memberships), not the API's, then
 * any other the API reports (a resource the platform registered: docs/ADDING-A-RESOURCE.md).
 */
export function resourcesOf(run: RunView): [Resource, ResourceProgress][] {
  const known = RESOURCES.filter((resource) => run.resources[resource]);
  const others = Object.keys(run.resources)
    .filter((name) => !(RESOURCES as readonly string[]).includes(name))
    .sort() as Resource[];
  return [...known, ...others].flatMap((resource) => {
    const progress = run.resources[resource];
    return progress ? [[resource, progress] as [Resource, ResourceProgress]] : [];
  });
}

/**
 * The watch frame: the run's line, then one line per resource (rate and ETA are run-wide). When
 * the run's line would be wider than `columns`, the run id goes on a line of its own, so state,
 * rate and ETA stay on screen in a narrow terminal (80 columns).
 */
export function formatRunFrame(
  run: RunView,
  rate: number | null,
  barWidth: number,
  columns = Number.POSITIVE_INFINITY,
): string[] {
  const progress = formatProgressLine({ ...run, rate, barWidth });
  const head = `run ${run.runId}  ${progress}`;
  const lines = head.length <= columns ? [head] : [`run ${run.runId}`, `  ${progress}`];
  for (const [resource, progress] of resourcesOf(run)) {
    lines.push(
      `  ${resource.padEnd(14)}${renderBar(progress.percent, Math.max(4, Math.floor(barWidth / 2)))}` +
        `  ${formatPercent(progress.percent)}  ${formatFraction(progress.published, progress.total)}` +
        `  ${progress.status}`,
    );
  }
  return lines;
}

/** How many of a frame's first lines are the run's own (one, or two when it was split). */
export const runLinesOf = (frame: readonly string[], run: RunView) =>
  frame[0] === `run ${run.runId}` ? 2 : 1;
