/** The human format of runs and sync status (`--json` bypasses all of this). */
import type {
  RunListResponse,
  RunSummary,
  RunView,
  SyncStatusResponse,
  TenantListResponse,
} from '@historical-sync/contracts';
import {
  formatCount,
  formatDuration,
  formatFraction,
  formatPercent,
  formatRate,
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
    if (progress.throttled) lines.push(`    ${progress.throttled}`);
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
  if (run.eventsPerSecond !== null) {
    const eta = run.etaSeconds === null ? '--' : formatDuration(run.etaSeconds * 1000);
    lines.push(`  ${formatRate(run.eventsPerSecond)}, ETA ${eta}`);
  }
  if (run.allowedActions.length > 0) lines.push(`  can: ${run.allowedActions.join(', ')}`);
  if (run.lastError) lines.push(`  last error: ${run.lastError}`);
  return lines;
}

/** `2026-11-27 16:30:01`: UTC to the second, short enough for a list. */
export const shortTime = (iso: string) => iso.slice(0, 19).replace('T', ' ');

/** One run of a list: when, state, where, how far, which. */
export function formatRunSummary(run: RunSummary): string {
  return [
    shortTime(run.createdAt),
    run.status.padEnd(9),
    run.appCode.padEnd(9),
    `${formatFraction(run.published, run.total)} (${formatPercent(run.percent).trim()})`,
    run.runId,
  ].join('  ');
}

/** Shell-quoted when it needs to be, so a printed next-page command can be pasted. */
export const shellWord = (word: string) =>
  /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, "'\\''")}'`;

/** The command line of the next page: the same command and filters, and the cursor. */
export function nextPageLine(command: string, flags: [string, string][], cursor: string | null) {
  if (cursor === null) return [];
  const all: [string, string][] = [...flags, ['--cursor', cursor]];
  const args = all.map(([flag, value]) => `${flag} ${shellWord(value)}`);
  return [`next page: hsync ${command} ${args.join(' ')}`];
}

export function formatRunList(page: RunListResponse, flags: [string, string][]): string[] {
  if (page.runs.length === 0) return ['no runs'];
  const lines: string[] = [];
  let tenant = '';
  for (const run of page.runs) {
    // The tenant once for each stretch of its runs: the list is by time, not by tenant.
    if (run.tenantId !== tenant) {
      tenant = run.tenantId;
      lines.push(`${run.tenantName} (${run.tenantId})`);
    }
    lines.push(`  ${formatRunSummary(run)}`);
    if (run.lastError) lines.push(`    last error: ${run.lastError}`);
  }
  return [...lines, ...nextPageLine('runs', flags, page.nextCursor)];
}

export function formatTenants(page: TenantListResponse, flags: [string, string][]): string[] {
  if (page.tenants.length === 0) return ['no tenants'];
  const lines: string[] = [];
  for (const tenant of page.tenants) {
    lines.push(`${tenant.name} (${tenant.tenantId})`);
    for (const app of tenant.applications) {
      const state = app.isEnabled ? 'enabled' : 'disabled';
      const run = app.latestRun
        ? `latest run ${app.latestRun.status} ${formatFraction(app.latestRun.published, app.latestRun.total)}`
        : 'no run yet';
      lines.push(
        `  ${app.code.padEnd(10)}${state.padEnd(10)}${app.syncNeeded ? 'sync needed  ' : ''}${run}`,
      );
    }
  }
  return [...lines, ...nextPageLine('tenants', flags, page.nextCursor)];
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
