/** The spec's `sync-status`: what the application should hold, and how the latest run went. */
import { RESOURCES, type Resource, type RunAction } from '@historical-sync/contracts';
import type { Db, RunResourceStatus, RunStatus } from '@historical-sync/db';
import { outboxBacklog } from '@historical-sync/domain';
import { countResources } from './resources';
import type { RunRate } from './run-rate';
import { allowedActions, isActiveRunStatus } from './run-state';
import { getLatestRun, type RunWithResources } from './runs';
import { getApplication, getTenant } from './tenants';

export interface ResourceProgress {
  /** The resource's own status; `paused` while its run is paused and it has work left. */
  status: RunResourceStatus | 'paused';
  published: number;
  total: number | null;
  percent: number | null;
  lastError: string | null;
  /** "throttled by source load: <why>" while source protection slows or pauses its pages. */
  throttled: string | null;
}

export interface RunView {
  runId: string;
  tenantId: string;
  appCode: string;
  status: RunStatus;
  trigger: 'enable' | 'manual';
  sinceDate: string | null;
  pageSize: number;
  maxEventsPerSecond: number | null;
  partitions: number;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  lastError: string | null;
  published: number;
  total: number | null;
  percent: number | null;
  resources: Partial<Record<Resource, ResourceProgress>>;
  /** Recent publish rate and time left (run-rate.ts); null without a rate tracker. */
  eventsPerSecond: number | null;
  etaSeconds: number | null;
  allowedActions: RunAction[];
}

export const percentOf = (published: number, total: number | null) =>
  total === null ? null : total === 0 ? 100 : Math.min(100, Math.floor((100 * published) / total));
const isoOrNull = (date: Date | null) => (date ? date.toISOString() : null);

/** A resource still to finish reads `paused` while its run is paused. */
const resourceStatus = (runStatus: RunStatus, status: RunResourceStatus) =>
  runStatus === 'paused' && (status === 'pending' || status === 'running') ? 'paused' : status;

export function viewRun(run: RunWithResources, rate?: RunRate): RunView {
  const resources: RunView['resources'] = {};
  for (const r of run.resources) {
    resources[r.resource] = {
      status: resourceStatus(run.status, r.status),
      published: r.published,
      total: r.total,
      percent: percentOf(r.published, r.total),
      lastError: r.last_error,
      // Written by the running job; a resource no longer running is not throttled.
      throttled:
        r.status === 'running' && r.source_throttle
          ? `throttled by source load: ${r.source_throttle}`
          : null,
    };
  }
  const published = run.resources.reduce((sum, r) => sum + r.published, 0);
  const total = run.resources.every((r) => r.total !== null)
    ? run.resources.reduce((sum, r) => sum + (r.total ?? 0), 0)
    : null;
  return {
    runId: run.id,
    tenantId: run.tenant_id,
    appCode: run.app_code,
    status: run.status,
    trigger: run.trigger,
    sinceDate: run.since_date,
    pageSize: run.page_size,
    maxEventsPerSecond: run.max_events_per_second,
    partitions: run.partitions,
    createdAt: run.created_at.toISOString(),
    startedAt: isoOrNull(run.started_at),
    finishedAt: isoOrNull(run.finished_at),
    lastError: run.last_error,
    published,
    total,
    percent: percentOf(published, total),
    resources,
    eventsPerSecond: rate?.eventsPerSecond ?? null,
    etaSeconds: rate?.etaSeconds ?? null,
    allowedActions: allowedActions(run.status),
  };
}

/**
 * Needed when the application is enabled and no run since its latest enablement has completed or
 * is under way.
 */
export function isSyncNeeded(
  enablement: { is_enabled: boolean; enabled_at: Date | null } | undefined,
  latest: { status: RunStatus; created_at: Date } | undefined,
): boolean {
  if (!enablement?.is_enabled) return false;
  const active = latest && isActiveRunStatus(latest.status);
  const covered =
    latest && enablement.enabled_at && latest.created_at >= enablement.enabled_at
      ? latest.status === 'completed' || active
      : false;
  return !covered;
}

/** Every membership of the tenant, ended ones included. */
async function countAllMemberships(db: Db, tenantId: string): Promise<number> {
  const row = await db
    .selectFrom('organization_memberships')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('tenant_id', '=', tenantId)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

export async function getSyncStatus(db: Db, tenantId: string, appCode: string) {
  await getTenant(db, tenantId);
  const application = await getApplication(db, appCode);
  const [enablement, counts, allMemberships, latest, backlog] = await Promise.all([
    db
      .selectFrom('organization_applications')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('application_id', '=', application.id)
      .executeTakeFirst(),
    countResources(db, { tenantId, appCode: application.code, sinceDate: null }, RESOURCES),
    countAllMemberships(db, tenantId),
    getLatestRun(db, tenantId, application.id),
    outboxBacklog(db, tenantId),
  ]);
  const isEnabled = enablement?.is_enabled ?? false;
  return {
    tenantId,
    appCode: application.code,
    isEnabled,
    enabledAt: isoOrNull(enablement?.enabled_at ?? null),
    counts: {
      activeCreditAllocations: counts.credits ?? 0,
      organizations: counts.organizations ?? 0,
      /** The spec's "total memberships count": active and ended alike. */
      memberships: allMemberships,
      /** The memberships a backfill publishes. */
      activeMemberships: counts.memberships ?? 0,
    },
    syncNeeded: isSyncNeeded(enablement, latest),
    latestRun: latest ? viewRun(latest) : null,
    /** Live events of this tenant not yet relayed to the streams. */
    outboxBacklog: backlog,
  };
}
