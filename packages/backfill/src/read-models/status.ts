/** The spec's `sync-status`: what the application should hold, and how the latest run went. */
import {
  ACTIVE_RUN_STATUSES,
  RESOURCES,
  type RunResourceStatus,
  type RunStatus,
  type RunView,
} from '@historical-sync/contracts';
import { type Db, outboxBacklog } from '@historical-sync/db';
import { sql } from 'kysely';
import { countResources } from '../resources';
import { allowedActions } from '../runs/run-state';
import { getLatestRun, type RunWithResources } from '../runs/runs';
import { getApplication, getTenant } from '../runs/tenants';
import type { RunRate } from './run-rate';

export const percentOf = (published: number, total: number | null) =>
  total === null ? null : total === 0 ? 100 : Math.min(100, Math.floor((100 * published) / total));
const isoOrNull = (date: Date | null) => (date ? date.toISOString() : null);

/**
 * Why a running resource's pages wait, named by what they wait for: the replica governor's reasons
 * start with `replica lag: ` (replica-guard.ts, worker/source-wait.ts) and read "throttled by
 * replica lag: …"; every other reason is source protection's, "throttled by source load: …".
 */
function throttledText(reason: string | null): string | null {
  if (!reason) return null;
  return reason.startsWith('replica lag: ')
    ? `throttled by ${reason}`
    : `throttled by source load: ${reason}`;
}

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
      throttled: r.status === 'running' ? throttledText(r.source_throttle) : null,
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
 * The enabled applications of `tenantIds` that need a sync, keyed `tenantId:applicationId`: no
 * run created since the latest enablement has completed or is under way. Any such run counts, not
 * only the latest: a re-sync cancelled after the enable's backfill completed leaves the
 * application holding every row (live events kept it current), so it is not behind.
 */
export async function applicationsNeedingSync(
  db: Db,
  tenantIds: readonly string[],
): Promise<Set<string>> {
  if (tenantIds.length === 0) return new Set();
  const { rows } = await sql<{ tenant_id: string; application_id: string }>`
    SELECT oa.tenant_id, oa.application_id FROM organization_applications oa
    WHERE oa.tenant_id IN (${sql.join(tenantIds)}) AND oa.is_enabled
      AND NOT EXISTS (
        SELECT 1 FROM backfill_runs r
        WHERE r.tenant_id = oa.tenant_id AND r.application_id = oa.application_id
          AND r.created_at >= oa.enabled_at
          AND r.status IN (${sql.join(['completed', ...ACTIVE_RUN_STATUSES])})
      )`.execute(db);
  return new Set(rows.map((row) => `${row.tenant_id}:${row.application_id}`));
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

/** `countsDb`: where the row counts are read (a replica, docs/REPLICA.md); the rest is `db`'s. */
export async function getSyncStatus(db: Db, tenantId: string, appCode: string, countsDb = db) {
  await getTenant(db, tenantId);
  const application = await getApplication(db, appCode);
  const [enablement, counts, allMemberships, latest, backlog, needing] = await Promise.all([
    db
      .selectFrom('organization_applications')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('application_id', '=', application.id)
      .executeTakeFirst(),
    countResources(countsDb, { tenantId, appCode: application.code, sinceDate: null }, RESOURCES),
    countAllMemberships(countsDb, tenantId),
    getLatestRun(db, tenantId, application.id),
    outboxBacklog(db, tenantId),
    applicationsNeedingSync(db, [tenantId]),
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
    syncNeeded: needing.has(`${tenantId}:${application.id}`),
    latestRun: latest ? viewRun(latest) : null,
    /** Live events of this tenant not yet relayed to the streams. */
    outboxBacklog: backlog,
  };
}
