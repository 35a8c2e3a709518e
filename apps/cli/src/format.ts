/** The human format of runs and sync status (`--json` bypasses all of this). */
import type { RunView, SyncStatusResponse } from '@historical-sync/contracts';
import {
  formatCount,
  formatDuration,
  formatFraction,
  formatPercent,
  resourcesOf,
} from './progress';

/** A run: state and totals, per-resource progress, times and the last error when there is one. */
export function formatRun(run: RunView): string[] {
  const lines = [
    `run ${run.runId}: ${run.status} (${run.trigger}), ` +
      `${formatFraction(run.published, run.total)} events (${formatPercent(run.percent).trim()})`,
  ];
  for (const [resource, progress] of resourcesOf(run)) {
    lines.push(
      `  ${resource.padEnd(14)}${formatFraction(progress.published, progress.total).padEnd(16)}` +
        `${formatPercent(progress.percent)}  ${progress.status}`,
    );
  }
  const times = [
    `created ${run.createdAt}`,
    run.startedAt ? `started ${run.startedAt}` : null,
    run.finishedAt ? `finished ${run.finishedAt}` : null,
  ];
  lines.push(`  ${times.filter(Boolean).join(', ')}`);
  const options = [
    `page size ${run.pageSize}`,
    run.maxEventsPerSecond ? `max ${formatCount(run.maxEventsPerSecond)} events/s` : null,
    run.sinceDate ? `since ${run.sinceDate}` : null,
  ];
  lines.push(`  ${options.filter(Boolean).join(', ')}`);
  if (run.lastError) lines.push(`  last error: ${run.lastError}`);
  return lines;
}

export function formatStatus(status: SyncStatusResponse): string[] {
  const { counts, outboxBacklog: backlog } = status;
  const state = status.isEnabled
    ? `enabled${status.enabledAt ? ` since ${status.enabledAt}` : ''}`
    : 'disabled';
  const oldest =
    backlog.oldestAgeMs === null ? '' : `, oldest ${formatDuration(backlog.oldestAgeMs)} old`;
  return [
    `${status.appCode} for tenant ${status.tenantId}: ${state}`,
    `counts: ${formatCount(counts.activeCreditAllocations)} active credit allocations, ` +
      `${formatCount(counts.organizations)} organizations, ` +
      `${formatCount(counts.memberships)} memberships (${formatCount(counts.activeMemberships)} active)`,
    `sync needed: ${status.syncNeeded ? 'yes' : 'no'}`,
    `outbox backlog: ${formatCount(backlog.unpublished)} unpublished${oldest}`,
    ...(status.latestRun ? formatRun(status.latestRun) : ['no run yet']),
  ];
}
