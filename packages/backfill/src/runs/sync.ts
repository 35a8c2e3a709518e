/** The manual sync (spec: `sync-historical`): a dry-run count, or a run for the selected resources. */
import type { Resource } from '@historical-sync/contracts';
import type { Application, Db } from '@historical-sync/db';
import { ConflictError } from '@historical-sync/domain';
import { countResources } from '../resources';
import type { TenantQuotas } from '../settings';
import { enforceRunQuotas } from './quotas';
import { createRun, getRun, type RunRequest, type RunWithResources } from './runs';
import { getApplication, getTenant } from './tenants';

export interface SyncRequest {
  tenantId: string;
  /** Application id or code. */
  application: string;
  resources: readonly Resource[];
  /** Canonical instant text (canonicalInstant): a Date would cut the microseconds. */
  sinceDate: string | null;
  dryRun: boolean;
  pageSize: number;
  /** Cap on the run's publish rate; null or absent = unlimited. */
  maxEventsPerSecond?: number | null;
  /** Id-range partitions per resource (default 1). */
  partitions?: number;
  /** The tenant's run quotas, when the caller is bound by them (a tenant key); absent = none. */
  quotas?: Pick<TenantQuotas, 'maxActiveRuns' | 'maxRunsPerHour'>;
  /** Where a dry run counts (a replica, docs/REPLICA.md); absent: `db`. */
  countsDb?: Db;
}

export type SyncResult =
  | { dryRun: true; application: Application; counts: Partial<Record<Resource, number>> }
  | { dryRun: false; application: Application; run: RunWithResources; created: boolean };

export async function requestSync(db: Db, request: SyncRequest): Promise<SyncResult> {
  await getTenant(db, request.tenantId);
  const application = await getApplication(db, request.application);
  // A dry run publishes nothing, so it answers whether or not the application is enabled: an
  // operator sees what enabling it would publish before doing so.
  if (request.dryRun) {
    const counts = await countResources(
      request.countsDb ?? db,
      { tenantId: request.tenantId, appCode: application.code, sinceDate: request.sinceDate },
      request.resources,
    );
    return { dryRun: true, application, counts };
  }
  const { run, created } = await createRunWhileEnabled(
    db,
    application,
    {
      tenantId: request.tenantId,
      applicationId: application.id,
      appCode: application.code,
      trigger: 'manual',
      resources: request.resources,
      sinceDate: request.sinceDate,
      pageSize: request.pageSize,
      maxEventsPerSecond: request.maxEventsPerSecond ?? null,
      partitions: request.partitions ?? 1,
    },
    request.quotas,
  );
  return { dryRun: false, application, run, created };
}

/**
 * Creates a run (a manual sync's, or a verification's repair) if the application is enabled for
 * the tenant and the tenant's quotas allow it; an active run of the application is returned
 * instead, with `created: false`.
 */
export async function createRunWhileEnabled(
  db: Db,
  application: Application,
  request: RunRequest,
  quotas?: Pick<TenantQuotas, 'maxActiveRuns' | 'maxRunsPerHour'>,
): Promise<{ run: RunWithResources; created: boolean }> {
  const notEnabled = () =>
    new ConflictError(`application ${application.code} is not enabled for this tenant`);
  const enabled = await db
    .selectFrom('organization_applications')
    .select('is_enabled')
    .where('tenant_id', '=', request.tenantId)
    .where('application_id', '=', application.id)
    .executeTakeFirst();
  if (!enabled?.is_enabled) throw notEnabled();

  const { run, created } = await db.transaction().execute(async (trx) => {
    // Still enabled, and stays so until this commits: a disable answering meanwhile must not be
    // followed by a run it never saw (the toggle takes this row's lock before anything else).
    const locked = await trx
      .selectFrom('organization_applications')
      .select('is_enabled')
      .where('tenant_id', '=', request.tenantId)
      .where('application_id', '=', application.id)
      .forShare()
      .executeTakeFirst();
    if (!locked?.is_enabled) throw notEnabled();
    if (quotas) {
      await enforceRunQuotas(
        trx,
        { tenantId: request.tenantId, applicationId: application.id },
        quotas,
      );
    }
    const result = await createRun(trx, request);
    return { run: await getRun(trx, result.run.id), created: result.created };
  });
  if (!run) throw new Error('run vanished after creation');
  return { run, created };
}
