/**
 * Retry of a failed run: its failed jobs go back to their queues and resume from their Redis
 * checkpoints, so rows already published are not published again. The run is running again from
 * the moment it is retried (the worker's own revive, `reviveFailedRun`, then finds it running);
 * a job that fails again records the run failed as the first time.
 *
 * A retried run is active again, so it answers to what an enable answers to: the application must
 * be enabled for the tenant (a disabled one receives nothing; its failed runs were cancelled by
 * the disable), no other run of the application may be active, and a tenant key's active-runs
 * quota holds. The checks and the transition commit together under the enablement's share lock,
 * which a disable takes for update: a disable either sees the retried run (and cancels it) or
 * comes first (and the retry is refused).
 */
import { resourceJobId } from '@historical-sync/contracts';
import type { Db } from '@historical-sync/db';
import { ConflictError } from '@historical-sync/domain';
import type { Job } from 'bullmq';
import { sql } from 'kysely';
import type { TenantQuotas } from '../settings';
import type { BackfillQueues } from './queues';
import { enforceRunQuotas } from './quotas';
import { failRun, markRunRetried } from './run-state';
import { findActiveRun, getTenantRun, type RunWithResources } from './runs';
import { runNotFound } from './tenants';

export async function retryRun(
  db: Db,
  queues: BackfillQueues,
  tenantId: string,
  runId: string,
  /** The tenant's quotas, when the caller is bound by them (a tenant key). */
  quotas?: Pick<TenantQuotas, 'maxActiveRuns'>,
): Promise<RunWithResources> {
  const run = await getTenantRun(db, tenantId, runId);
  if (!run) throw runNotFound(runId);
  if (run.status !== 'failed') throw new ConflictError(`cannot retry a ${run.status} run`);
  const failed = await failedJobs(queues, run);
  if (failed.length === 0) {
    throw new ConflictError(
      'the run has no failed job left to retry (its jobs were removed from Redis)',
    );
  }
  // failed -> running first, then the jobs: a job that fails again can only do so after this.
  await db
    .transaction()
    .execute(async (trx) => {
      const { rows } = await sql<{ is_enabled: boolean }>`
      SELECT is_enabled FROM organization_applications
      WHERE tenant_id = ${tenantId} AND application_id = ${run.application_id}
      FOR SHARE
    `.execute(trx);
      if (!rows[0]?.is_enabled) {
        throw new ConflictError(
          `application ${run.app_code} is disabled for this tenant, so it receives nothing: enable it to sync again (the enable starts a new run)`,
        );
      }
      const active = await findActiveRun(trx, tenantId, run.application_id);
      if (active) {
        throw new ConflictError(
          `run ${active.id} of application ${run.app_code} is ${active.status}: cancel it or let it end before retrying this one`,
        );
      }
      if (quotas) {
        await enforceRunQuotas(
          trx,
          { tenantId, applicationId: run.application_id },
          // A retry starts no new run: only the active-runs quota applies.
          { maxActiveRuns: quotas.maxActiveRuns, maxRunsPerHour: 0 },
        );
      }
      if (!(await markRunRetried(trx, run.id))) {
        throw new ConflictError('the run changed state meanwhile; read it again');
      }
    })
    .catch((error: unknown) => {
      // Another run became active between the check and the transition: the partial unique index
      // that keeps one active run per tenant and application refused it.
      if ((error as { code?: string }).code === '23505') {
        throw new ConflictError(
          `another run of application ${run.app_code} became active: cancel it or let it end before retrying this one`,
        );
      }
      throw error;
    });
  try {
    await Promise.all(failed.map((job) => job.retry('failed')));
  } catch (error) {
    // The jobs stay failed: so does the run, with its error, to be retried again.
    await failRun(db, run.id, run.last_error ?? 'retry failed');
    throw error;
  }
  return (await getTenantRun(db, tenantId, runId)) ?? run;
}

async function failedJobs(queues: BackfillQueues, run: RunWithResources): Promise<Job[]> {
  const jobs = await Promise.all([
    queues.runs.getJob(run.id),
    ...run.resources.flatMap(({ resource }) =>
      Array.from({ length: run.partitions }, (_, partition) =>
        queues.resources[resource].getJob(
          resourceJobId(run.id, resource, partition, run.partitions),
        ),
      ),
    ),
  ]);
  const states = await Promise.all(
    jobs.map(async (job) => (job && (await job.isFailed()) ? job : undefined)),
  );
  return states.filter((job): job is Job => job !== undefined);
}
