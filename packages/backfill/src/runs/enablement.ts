/**
 * Enabling and disabling an application for a tenant (the spec's toggle). The state change and the
 * run it starts commit together; enqueueing happens afterwards
 * (docs/decisions/0001-one-durable-job-per-enablement.md).
 */
import { RESOURCES } from '@historical-sync/contracts';
import type { Application, Db } from '@historical-sync/db';
import { sql } from 'kysely';
import type { BarrierDeps } from '../publish/run-barrier';
import type { TenantQuotas } from '../settings';
import { recordControl } from './controls';
import { enforceRunQuotas } from './quotas';
import { RUN_TRANSITIONS } from './run-state';
import { createRun, getRun, type RunWithResources } from './runs';
import { applicationNotFound, getTenant, isUuid, tenantNotFound } from './tenants';

export interface ToggleRequest {
  tenantId: string;
  /** Application id or code. */
  application: string;
  isEnabled: boolean;
  skipHistoricalSync: boolean;
  pageSize: number;
  /** Cap on the run's publish rate; null or absent = unlimited. */
  maxEventsPerSecond?: number | null;
  /** Id-range partitions per resource (default 1). */
  partitions?: number;
  /** The tenant's run quotas, when the caller is bound by them (a tenant key); absent = none. */
  quotas?: Pick<TenantQuotas, 'maxActiveRuns' | 'maxRunsPerHour'>;
}

export interface ToggleResult {
  application: Application;
  isEnabled: boolean;
  /** False when the application already was in the requested state. */
  changed: boolean;
  enabledAt: Date | null;
  disabledAt: Date | null;
  /** The run this enablement started, or the active one it found; null when none. */
  run: RunWithResources | null;
  /** True when `run` was created by this call and must be enqueued. */
  runCreated: boolean;
  /** The runs this disable cancelled (active or failed), whose jobs can leave Redis. */
  cancelledRunIds: string[];
}

/**
 * Disabling cancels the application's active run as a barrier (run-barrier.ts), so `barrier` must
 * reach the Redis the run publishes to.
 */
export async function toggleApplication(
  db: Db,
  barrier: BarrierDeps,
  request: ToggleRequest,
): Promise<ToggleResult> {
  // Already in the requested state: answer from one read, without a transaction or a row lock
  // (client retries and repeated enables are common, and must stay cheap under load). One round
  // trip: the application, the tenant's enablement of it, and whether the tenant exists.
  const found = await db
    .selectFrom('applications as a')
    .leftJoin('organization_applications as oa', (join) =>
      join.onRef('oa.application_id', '=', 'a.id').on('oa.tenant_id', '=', request.tenantId),
    )
    .selectAll('a')
    .select((eb) => [
      'oa.is_enabled',
      'oa.enabled_at',
      'oa.disabled_at',
      eb
        .exists(eb.selectFrom('tenants').select('id').where('id', '=', request.tenantId))
        .as('tenant_exists'),
    ])
    .where(isUuid(request.application) ? 'a.id' : 'a.code', '=', request.application)
    .executeTakeFirst();
  if (!found) {
    await getTenant(db, request.tenantId); // an unknown tenant is named first
    throw await applicationNotFound(db, request.application);
  }
  if (!found.tenant_exists) throw tenantNotFound(request.tenantId);
  const { is_enabled, enabled_at, disabled_at, tenant_exists: _, ...application } = found;
  if (is_enabled !== null && is_enabled === request.isEnabled) {
    return {
      application,
      isEnabled: is_enabled,
      changed: false,
      enabledAt: enabled_at,
      disabledAt: disabled_at,
      run: null,
      runCreated: false,
      cancelledRunIds: [],
    };
  }

  return db.transaction().execute(async (trx) => {
    // Make sure the row exists, then lock it: concurrent toggles serialize here.
    await trx
      .insertInto('organization_applications')
      .values({ tenant_id: request.tenantId, application_id: application.id, is_enabled: false })
      .onConflict((oc) => oc.columns(['tenant_id', 'application_id']).doNothing())
      .execute();
    const current = await trx
      .selectFrom('organization_applications')
      .selectAll()
      .where('tenant_id', '=', request.tenantId)
      .where('application_id', '=', application.id)
      .forUpdate()
      .executeTakeFirstOrThrow();

    const changed = current.is_enabled !== request.isEnabled;
    let row = current;
    if (changed) {
      row = await trx
        .updateTable('organization_applications')
        .set(
          request.isEnabled
            ? { is_enabled: true, enabled_at: sql`now()` }
            : { is_enabled: false, disabled_at: sql`now()` },
        )
        .where('tenant_id', '=', request.tenantId)
        .where('application_id', '=', application.id)
        .returningAll()
        .executeTakeFirstOrThrow();
    }

    let run: RunWithResources | null = null;
    let runCreated = false;
    const cancelledRunIds: string[] = [];
    if (changed && request.isEnabled && !request.skipHistoricalSync) {
      // Past a quota the enable is refused whole: nothing commits.
      if (request.quotas) {
        await enforceRunQuotas(
          trx,
          { tenantId: request.tenantId, applicationId: application.id },
          request.quotas,
        );
      }
      const created = await createRun(trx, {
        tenantId: request.tenantId,
        applicationId: application.id,
        appCode: application.code,
        trigger: 'enable',
        resources: RESOURCES,
        sinceDate: null,
        pageSize: request.pageSize,
        maxEventsPerSecond: request.maxEventsPerSecond ?? null,
        partitions: request.partitions ?? 1,
      });
      run = (await getRun(trx, created.run.id)) ?? null;
      runCreated = created.created;
    }
    if (changed && !request.isEnabled) {
      // A disabled application must receive nothing more of the tenant: stop its active run, and
      // its failed runs too, whose other jobs still publish and which a retry would bring back.
      for (const stoppable of await lockRunsToStop(trx, request.tenantId, application.id)) {
        await recordControl(trx, barrier, stoppable, 'disable');
        cancelledRunIds.push(stoppable.id);
      }
    }

    return {
      application,
      isEnabled: row.is_enabled,
      changed,
      enabledAt: row.enabled_at,
      disabledAt: row.disabled_at,
      run,
      runCreated,
      cancelledRunIds,
    };
  });
}

/**
 * The tenant's runs of the application that a disable stops, locked in creation order (one order
 * for every caller, so two disables cannot deadlock). At most one is active; failed ones are as
 * many as failed since the last disable, bounded by the tenant's runs-per-hour quota.
 */
function lockRunsToStop(trx: Db, tenantId: string, applicationId: string) {
  return trx
    .selectFrom('backfill_runs')
    .select(['id', 'app_code', 'started_at'])
    .where('tenant_id', '=', tenantId)
    .where('application_id', '=', applicationId)
    .where('status', 'in', RUN_TRANSITIONS.disable.from)
    .orderBy('created_at')
    .orderBy('id')
    .forUpdate()
    .execute();
}
