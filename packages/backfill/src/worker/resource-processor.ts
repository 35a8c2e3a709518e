/**
 * Processes one partition of one resource of one run, top to bottom: gate on the run's status,
 * wait for the tenant's turn, prepare the partition, publish its pages, leave. Every page is
 * published with its checkpoint in one atomic call, and every attempt starts from the checkpoint
 * in Redis, so a retry after a crash continues after the last published page and publishes
 * nothing twice.
 */
import { ResourceJobData } from '@historical-sync/contracts';
import type { Job } from 'bullmq';
import { admitTenantJob } from './fair-share';
import { leave, park, parkWhilePaused } from './leave';
import { publishPages } from './page-loop';
import type { PartitionJob, ProcessorDeps, ResourceJobResult } from './partition-job';
import { gateOnRun, preparePartition } from './prepare-partition';

export type { ProcessorDeps, ResourceJobResult } from './partition-job';

/** A job's hold on its tenant's share of a queue lasts this long unless renewed as it works. */
const TENANT_LEASE_MS = 15_000;

export function createResourceProcessor(deps: ProcessorDeps) {
  return async (
    job: Job<ResourceJobData>,
    token?: string,
    signal?: AbortSignal,
  ): Promise<ResourceJobResult> => {
    const data = ResourceJobData.parse(job.data);
    const { runId, tenantId, appCode, resource, partition } = data;
    const pj: PartitionJob = {
      deps,
      job,
      token,
      data,
      ref: { runId, resource, partition },
      log: deps.logger.child({ tenantId, appCode, runId, jobId: job.id, resource }),
    };

    const gate = await gateOnRun(pj);
    if ('paused' in gate) return parkWhilePaused(pj);
    if ('skipped' in gate) return gate.skipped;
    // One job per tenant in this queue while other tenants wait; the others come back shortly.
    const admission = await admitTenantJob(deps.redis, job, token, tenantId, TENANT_LEASE_MS);
    if ('retryInMs' in admission) return park(pj, admission.retryInMs);
    try {
      const { partition: prepared, exit } = await preparePartition(
        pj,
        gate.publish,
        admission.lease,
      );
      return await leave(pj, prepared.progress, exit ?? (await publishPages(pj, prepared, signal)));
    } finally {
      await admission.lease.release().catch(() => {}); // the lease expires on its own
    }
  };
}
