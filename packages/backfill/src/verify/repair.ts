/**
 * A verification's repair (docs/VERIFY.md): the rows found differing are sent again as they are
 * now, through a run like any other (trigger `verify`: the same atomic publish, barrier,
 * checkpoints, quotas, fair share and source protection), and the rows the application holds that
 * the source never had are dropped by the application on request.
 *
 * - missing or stale: the source has the row active; the run publishes its event.
 * - ghost the source has inactive: the run publishes the resource's tombstone.
 * - ghost the source never had (in this tenant's scope): no event can stand for it (a tombstone
 *   carries the row's fields, which only the application has), so the application is asked to
 *   forget it, at or below the version it held (docs/decisions/0013-repair-ghosts.md).
 *
 * Only differences are repaired, never rows that changed at the source during the verification
 * (compare.ts sets those apart: the live path delivers them).
 */
import type { HeldRow, RepairView, Resource } from '@historical-sync/contracts';
import type { Application, Db } from '@historical-sync/db';
import { SyncError } from '@historical-sync/domain';
import type { Cluster, Redis } from 'ioredis';
import { sql } from 'kysely';
import { belongsToApplication, RESOURCE_DEFINITIONS } from '../resources';
import type { RunWithResources } from '../runs/runs';
import { createRunWhileEnabled } from '../runs/sync';
import type { TenantQuotas } from '../settings';
import { applicationForget } from './application';
import type { ResourceComparison } from './compare';

/** Rows per `forget` request (the protocol's bound). */
const FORGET_BATCH = 4096;

export interface RepairRequest {
  db: Db;
  redis: Redis | Cluster;
  streamPrefix: string;
  tenantId: string;
  application: Application;
  comparisons: readonly ResourceComparison[];
  pageSize: number;
  maxEventsPerSecond: number | null;
  /** The tenant's run quotas, when the caller is bound by them (a tenant key). */
  quotas?: Pick<TenantQuotas, 'maxActiveRuns' | 'maxRunsPerHour'>;
  timeoutMs: number;
}

export interface RepairOutcome {
  view: RepairView;
  /** The run created to publish the rows: the caller enqueues it. */
  run: RunWithResources | null;
}

export async function repair(request: RepairRequest): Promise<RepairOutcome> {
  const publish: Partial<Record<Resource, string[]>> = {};
  const forget: Array<{ resource: Resource; rows: HeldRow[] }> = [];
  for (const { resource, differences } of request.comparisons) {
    const ids: string[] = [];
    const neverHad: HeldRow[] = [];
    for (const d of differences) {
      if (d.sourceVersion !== null) ids.push(d.id);
      else if (d.applicationVersion !== null)
        neverHad.push({ id: d.id, version: d.applicationVersion });
    }
    if (ids.length > 0) publish[resource] = ids;
    if (neverHad.length > 0) forget.push({ resource, rows: neverHad });
  }

  const errors: string[] = [];
  let unrepaired = 0;
  let forgotten = 0;
  for (const { resource, rows } of forget) {
    const still = await stillNeverHad(request, resource, rows);
    for (let i = 0; i < still.length; i += FORGET_BATCH) {
      const batch = still.slice(i, i + FORGET_BATCH);
      try {
        forgotten += await applicationForget(
          request.redis,
          {
            appCode: request.application.code,
            streamPrefix: request.streamPrefix,
            tenantId: request.tenantId,
            resource,
          },
          batch,
          request.timeoutMs,
        );
      } catch (error) {
        if (!(error instanceof SyncError)) throw error;
        unrepaired += still.length - i;
        errors.push(`${resource}: ${error.message}`);
        break;
      }
    }
  }

  const rows = Object.values(publish).reduce((n, ids) => n + ids.length, 0);
  let run: RunWithResources | null = null;
  if (rows > 0) {
    try {
      const result = await createRunWhileEnabled(
        request.db,
        request.application,
        {
          tenantId: request.tenantId,
          applicationId: request.application.id,
          appCode: request.application.code,
          trigger: 'verify',
          resources: Object.keys(publish) as Resource[],
          sinceDate: null,
          pageSize: request.pageSize,
          maxEventsPerSecond: request.maxEventsPerSecond,
          repairRows: publish,
        },
        request.quotas,
      );
      if (result.created) run = result.run;
      else {
        unrepaired += rows;
        errors.push(
          `run ${result.run.id} of ${request.application.code} is active: verify again once it has ended`,
        );
      }
    } catch (error) {
      // Not enabled, or past the tenant's run quotas: the report says so; nothing was created.
      if (!(error instanceof SyncError)) throw error;
      unrepaired += rows;
      errors.push(error.message);
    }
  }
  return {
    view: {
      runId: run?.id ?? null,
      rows: run ? rows : 0,
      forgotten,
      unrepaired,
      error: errors.length > 0 ? errors.join('; ') : null,
    },
    run,
  };
}

/**
 * The rows the source still does not have in the application's scope: one the source wrote since
 * the comparison is the live path's to deliver, not the application's to forget.
 */
async function stillNeverHad(
  request: RepairRequest,
  resource: Resource,
  rows: readonly HeldRow[],
): Promise<HeldRow[]> {
  const scope = { tenantId: request.tenantId, appCode: request.application.code };
  const { rows: present } = await sql<{ id: string }>`
    SELECT id FROM ${sql.table(RESOURCE_DEFINITIONS[resource].table)}
    WHERE ${belongsToApplication(resource, scope)} AND id = ANY(${rows.map((r) => r.id)}::uuid[])
  `.execute(request.db);
  const known = new Set(present.map((r) => r.id));
  return rows.filter((r) => !known.has(r.id));
}
