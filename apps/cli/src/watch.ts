/**
 * `status --watch`: polls sync-status until the latest run has ended. A TTY gets a frame (run
 * line and one line per resource) redrawn in place; anything else gets one plain line whenever
 * the run moves, so logs of a long or paused run stay short.
 */
import { ENDED_RUN_STATUSES, type SyncStatusResponse } from '@historical-sync/contracts';
import { CliError } from './client';
import type { Context } from './command';
import { formatDuration, formatRunFrame, measureRate, runLinesOf, type Sample } from './progress';

/** The width assumed when the output does not say (a pipe, a log). */
const DEFAULT_COLUMNS = 80;

/** Enough samples for the rate window at the fastest poll interval. */
const MAX_SAMPLES = 200;

export async function watchStatus(
  context: Context,
  fetchStatus: () => Promise<SyncStatusResponse>,
  intervalMs: number,
): Promise<number> {
  const { stdout } = context;
  const samples: Sample[] = [];
  let runId: string | undefined;
  let drawnLines = 0;
  let lastPlain = '';
  for (;;) {
    const status = await fetchStatus();
    const run = status.latestRun;
    if (!run) {
      throw new CliError(
        `no run of ${status.appCode} for tenant ${status.tenantId} to watch; enable it or start a sync`,
      );
    }
    // A new run (e.g. a sync started while watching) has its own rate.
    if (run.runId !== runId) {
      runId = run.runId;
      samples.length = 0;
    }
    samples.push({ atMs: context.now(), published: run.published });
    if (samples.length > MAX_SAMPLES) samples.shift();
    const rate = measureRate(samples);

    if (context.json) {
      // One JSON document per line (NDJSON), so a script can read the stream as it comes.
      stdout.write(`${JSON.stringify(status)}\n`);
    } else if (stdout.isTTY) {
      const columns = stdout.columns ?? DEFAULT_COLUMNS;
      // Truncated to the width: a wrapped line would throw off the cursor-up count below.
      const lines = formatRunFrame(run, rate, barWidth(columns), columns - 1).map((line) =>
        line.slice(0, Math.max(1, columns - 1)),
      );
      // Cursor to the first line of the previous frame, clear to the end, draw the new one.
      stdout.write(`${drawnLines ? `\x1b[${drawnLines}F\x1b[J` : ''}${lines.join('\n')}\n`);
      drawnLines = lines.length;
    } else {
      const key = `${run.status}:${run.published}:${run.total}`;
      if (key !== lastPlain) {
        lastPlain = key;
        // A log or a pipe: the run's own line(s), at most the terminal's width (80 when unknown).
        const columns = stdout.columns ?? DEFAULT_COLUMNS;
        const frame = formatRunFrame(run, rate, barWidth(columns), columns);
        stdout.write(`${frame.slice(0, runLinesOf(frame, run)).join('\n')}\n`);
      }
    }

    if ((ENDED_RUN_STATUSES as readonly string[]).includes(run.status)) {
      const took =
        run.startedAt && run.finishedAt
          ? ` in ${formatDuration(Date.parse(run.finishedAt) - Date.parse(run.startedAt))}`
          : '';
      if (run.status === 'completed') {
        if (!context.json) stdout.write(`run ${run.runId} completed${took}\n`);
        return 0;
      }
      throw new CliError(
        `run ${run.runId} ${run.status}${run.lastError ? `: ${run.lastError}` : ''}`,
      );
    }
    await context.sleep(intervalMs);
  }
}

/**
 * Wide enough to read, narrow enough that the run line (about 95 characters more) fits; below
 * that the run id moves to its own line and the bar stays at 10.
 */
function barWidth(columns: number): number {
  return Math.max(10, Math.min(40, columns - 95));
}
