/**
 * A resource job's first steps: what the run's status lets it do (before it asks for its
 * tenant's turn), then, once admitted, the partition made ready to publish: counted, marked
 * started, its sync.started marker out, its checkpoint read.
 */
import { streamName } from '@historical-sync/contracts';
import { UnrecoverableError } from 'bullmq';
import { publishStartedMarker } from '../publish/markers';
import { checkpointKey, readCheckpoint } from '../publish/publisher';
import { countRows, partitionRange, type ResourceScope, renderingOf } from '../resources';
import {
  canTransition,
  finishPartition,
  isPublishingRunStatus,
  recordPartitionTotal,
  reviveFailedRun,
  startPartition,
  startRun,
} from '../runs/run-state';
import { type PartitionJobState, readPartitionJob } from '../runs/runs';
import type { TenantLease } from './fair-share';
import type { Exit } from './leave';
import type { PartitionJob, PreparedPartition, ResourceJobResult } from './partition-job';
import { waitForReplica } from './source-wait';

export type RunGate =
  | { publish: PartitionJobState }
  | { paused: true }
  | { skipped: ResourceJobResult };

/** Reads the run and partition once, and says whether this job publishes, waits or has nothing to do. */
export async function gateOnRun(pj: PartitionJob): Promise<RunGate> {
  const { deps, ref, log } = pj;
  const state = await readPartitionJob(deps.db, ref);
  const status = state.runStatus;
  // A failed run's jobs still publish (a retried one, or one that had not started yet); the run
  // is running again once none of its jobs is failed any more.
  if (
    status &&
    canTransition('revive', status) &&
    (await reviveFailedRun(deps.db, ref.runId, ref))
  ) {
    log.info('failed run retried: resuming from its checkpoint');
  }
  if (status === 'paused') return { paused: true };
  if (status === undefined || !isPublishingRunStatus(status)) {
    // A job cancelled while it waited for its turn (or a pause to end) closes its partition.
    if (status === 'cancelled') await finishPartition(deps.db, ref, 'stop');
    log.info({ status }, 'run is not active; nothing to publish');
    return { skipped: { resource: ref.resource, published: 0, total: 0, outcome: 'skipped' } };
  }
  return { publish: state };
}

/**
 * Makes the partition ready to publish. `exit` is set when the run's barrier stopped its
 * sync.started marker: the job leaves without publishing a page.
 */
export async function preparePartition(
  pj: PartitionJob,
  state: PartitionJobState,
  lease: TenantLease,
): Promise<{ partition: PreparedPartition; exit?: Exit }> {
  const { deps, data, ref, log } = pj;
  const { runId, tenantId, appCode, resource } = data;
  // Only a queued run starts: a job of a running run skips the write.
  const startable = state.runStatus !== undefined && canTransition('start', state.runStatus);
  if (startable && (await startRun(deps.db, runId))) {
    log.info(`Starting historical sync for tenant ${tenantId}, application ${appCode}`);
  }
  // A repair run (trigger `verify`) publishes the rows it lists, active ones from its first
  // partition and tombstones of inactive ones from its second (runs.ts, REPAIR_PARTITIONS).
  const scope: ResourceScope =
    state.trigger === 'verify'
      ? { tenantId, appCode, sinceDate: null, repair: { runId, tombstones: data.partition === 1 } }
      : {
          tenantId,
          appCode,
          sinceDate: data.sinceDate,
          range: partitionRange(data.partition, data.partitions),
        };
  const recorded = state.partition;
  // Counted once per partition (a job resuming after a crash, a hand-back or its turn reuses it),
  // where the pages are read. From the primary, before the partition starts; from a replica, once
  // it has replayed the run's start (a count it took before would stay wrong), with the partition
  // running meanwhile so its wait shows in the run view.
  let total = recorded.total;
  if (total === null && !deps.sourceDb) {
    total = await countRows(deps.db, resource, scope);
    await lease.renew(); // counting a large partition may take a while
  }
  await startPartition(deps.db, ref, total, recorded.status === 'failed');
  if (total === null) {
    const wait = await waitForReplica(pj);
    if (wait) {
      const published = recorded.published;
      const progress = { checkpoint: { cursor: '', published }, total: 0, mirrored: published };
      const unready = { lease, scope, stream: '', checkpointKey: '', maxEventsPerSecond: null };
      return { partition: { ...unready, progress }, exit: wait };
    }
    total = await countRows(deps.sourceDb ?? deps.db, resource, scope);
    await lease.renew();
    await recordPartitionTotal(deps.db, ref, total);
  }

  const stream = streamName(
    renderingOf(resource, scope).eventType,
    appCode,
    deps.settings.streamPrefix,
  );
  const key = checkpointKey(
    stream,
    runId,
    data.partitions === 1 ? resource : `${resource}:${data.partition}of${data.partitions}`,
  );
  const partition: PreparedPartition = {
    lease,
    scope,
    stream,
    checkpointKey: key,
    maxEventsPerSecond: state.maxEventsPerSecond,
    progress: {
      checkpoint: { cursor: '', published: recorded.published },
      total,
      mirrored: recorded.published,
    },
  };
  const markerGate = await publishStartedMarker(
    {
      db: deps.db,
      redis: deps.redis,
      streamPrefix: deps.settings.streamPrefix,
      tenantId,
      appCode,
      runId,
      resources: state.resources,
    },
    resource,
    // The marker counts the whole resource, not just this partition.
    async () => {
      if (data.partitions === 1) return total;
      const source = deps.sourceDb ?? deps.db;
      if (!scope.repair) return countRows(source, resource, { ...scope, range: undefined });
      const other = { ...scope, repair: { ...scope.repair, tombstones: !scope.repair.tombstones } };
      return total + (await countRows(source, resource, other));
    },
  );
  if (markerGate) return { partition, exit: { kind: markerGate } };

  const checkpoint = await readCheckpoint(deps.redis, key);
  if (checkpoint.cursor) log.info({ checkpoint }, 'resuming after the last published page');
  else if (recorded.published > 0) {
    // Pages were published but the checkpoint is gone (Redis lost data, or it expired):
    // starting over would publish them twice. A new run is the way forward.
    throw new UnrecoverableError(
      `checkpoint ${key} is missing although pages were published; start a new sync`,
    );
  }
  partition.progress.checkpoint = checkpoint;
  // The mirror never runs ahead of the checkpoint it mirrors.
  partition.progress.mirrored = Math.min(partition.progress.mirrored, checkpoint.published);
  return { partition };
}
