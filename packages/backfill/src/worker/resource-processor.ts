/**
 * Processes one resource of one run: pages its rows by keyset and publishes each page with its
 * checkpoint in one atomic call. Every attempt starts from the checkpoint in Redis, so a retry
 * after a crash continues after the last published page and publishes nothing twice.
 */
import { ResourceJobData, streamName } from '@historical-sync/contracts';
import type { Db } from '@historical-sync/db';
import { StaleCheckpointError } from '@historical-sync/domain';
import { DelayedError, type Job, UnrecoverableError, WaitingError } from 'bullmq';
import type { Logger } from 'pino';
import { reviveFailedRun } from '../controls';
import { publishStartedMarker } from '../markers';
import { checkpointKey, publishPage, type RedisClient, readCheckpoint } from '../publisher';
import { partitionRange, RESOURCE_DEFINITIONS } from '../resources';
import {
  finishPartition,
  getRun,
  getRunStatus,
  markPartitionStarted,
  markRunStarted,
  type PartitionRef,
  recordPartitionProgress,
} from '../runs';
import type { BackfillSettings } from '../settings';
import { throttle } from '../throttle';

export interface ProcessorDeps {
  db: Db;
  redis: RedisClient;
  settings: BackfillSettings;
  logger: Logger;
  /** Told about every published page, for the process's metrics. */
  onPagePublished?: (page: {
    resource: string;
    appCode: string;
    events: number;
    seconds: number;
  }) => void;
}

export interface ResourceJobResult {
  resource: string;
  published: number;
  total: number;
  outcome: 'completed' | 'cancelled' | 'skipped';
}

/** How often progress is mirrored to Postgres and the job, and the run's status re-read. */
const PROGRESS_INTERVAL_MS = 250;
/** A paused run's job looks again this often. */
const PAUSED_RECHECK_MS = 1_000;

export function createResourceProcessor(deps: ProcessorDeps) {
  return async (
    job: Job<ResourceJobData>,
    token?: string,
    signal?: AbortSignal,
  ): Promise<ResourceJobResult> => {
    const data = ResourceJobData.parse(job.data);
    const { runId, tenantId, appCode, resource } = data;
    const log = deps.logger.child({ tenantId, appCode, runId, jobId: job.id, resource });
    const definition = RESOURCE_DEFINITIONS[resource];

    let status = await getRunStatus(deps.db, runId);
    // A failed run's job runs again only when someone retried it (Bull Board, or the API).
    if (status === 'failed' && (await reviveFailedRun(deps.db, runId))) {
      log.info('failed run retried: resuming from its checkpoint');
      status = 'running';
    }
    if (status === 'paused') return waitWhilePaused(job, token);
    if (status !== 'queued' && status !== 'running') {
      log.info({ status }, 'run is not active; nothing to publish');
      return { resource, published: 0, total: 0, outcome: 'skipped' };
    }
    if (await markRunStarted(deps.db, runId)) {
      log.info(`Starting historical sync for tenant ${tenantId}, application ${appCode}`);
    }

    const scope = {
      tenantId,
      appCode,
      sinceDate: data.sinceDate ? new Date(data.sinceDate) : null,
      range: partitionRange(data.partition, data.partitions),
    };
    const ref: PartitionRef = { runId, resource, partition: data.partition };
    const total = await definition.count(deps.db, scope);
    await markPartitionStarted(deps.db, ref, total);

    const stream = streamName(definition.eventType, appCode, deps.settings.streamPrefix);
    const key = checkpointKey(
      stream,
      runId,
      data.partitions === 1 ? resource : `${resource}:${data.partition}of${data.partitions}`,
    );
    const run = await getRun(deps.db, runId);
    await publishStartedMarker(
      {
        redis: deps.redis,
        streamPrefix: deps.settings.streamPrefix,
        tenantId,
        appCode,
        runId,
        resources: run?.resources.map((r) => r.resource) ?? [resource],
      },
      resource,
      total,
    );
    let checkpoint = await readCheckpoint(deps.redis, key);
    if (checkpoint.cursor) log.info({ checkpoint }, 'resuming after the last published page');
    const context = { tenantId, appCode, runId };
    const fetchPage = (after: string) => {
      const page = definition.page(deps.db, { ...scope, after, limit: data.pageSize });
      // Handled where it is awaited; this keeps an abandoned prefetch from being "unhandled".
      page.catch(() => {});
      return page;
    };

    const maxEventsPerSecond = run?.max_events_per_second ?? null;
    let lastReport = 0;
    let next = fetchPage(checkpoint.cursor);
    for (;;) {
      const rows = await next;
      if (rows.length === 0) break;
      const lastId = rows[rows.length - 1].id as string;
      // Read the next page while this one is published.
      next = rows.length < data.pageSize ? Promise.resolve([]) : fetchPage(lastId);

      const events = rows.map((row) => {
        const event = definition.toEvent(row, context);
        const checked = definition.schema.safeParse(event);
        if (!checked.success) {
          // Retrying cannot fix a row: fail the run with a reason a person can act on.
          const issue = checked.error.issues[0];
          throw new UnrecoverableError(
            `${resource} row ${row.id} is not a valid ${definition.eventType} event: ` +
              `${issue?.path.join('.')}: ${issue?.message}`,
          );
        }
        return JSON.stringify(event);
      });

      if (maxEventsPerSecond) await throttle(deps.redis, runId, events.length, maxEventsPerSecond);
      const publishStarted = performance.now();
      const result = await publishPage(deps.redis, {
        checkpointKey: key,
        stream,
        expectedCursor: checkpoint.cursor,
        nextCursor: lastId,
        events,
      });
      if (!result.ok) throw new StaleCheckpointError(key, checkpoint.cursor, result.cursor);
      checkpoint = result;
      deps.onPagePublished?.({
        resource,
        appCode,
        events: events.length,
        seconds: (performance.now() - publishStarted) / 1000,
      });

      if (signal?.aborted) {
        // The process is stopping: hand the job back between pages (no attempt used up); the
        // next worker to take it resumes after the page just published.
        await recordPartitionProgress(deps.db, ref, checkpoint.published);
        await job.moveToWait(token);
        log.info({ checkpoint }, 'stopping: job handed back after the current page');
        throw new WaitingError();
      }

      if (Date.now() - lastReport >= PROGRESS_INTERVAL_MS) {
        lastReport = Date.now();
        await Promise.all([
          job.updateProgress({ published: checkpoint.published, total }),
          recordPartitionProgress(deps.db, ref, checkpoint.published),
        ]);
        const now = await getRunStatus(deps.db, runId);
        if (now === 'paused') return waitWhilePaused(job, token);
        if (now === 'cancelled') {
          await finishPartition(deps.db, ref, {
            status: 'cancelled',
            published: checkpoint.published,
          });
          log.info({ published: checkpoint.published }, 'run cancelled; stopped publishing');
          return { resource, published: checkpoint.published, total, outcome: 'cancelled' };
        }
      }
    }

    await job.updateProgress({ published: checkpoint.published, total });
    await finishPartition(deps.db, ref, {
      status: 'completed',
      published: checkpoint.published,
    });
    log.info({ published: checkpoint.published, total }, `${resource} published`);
    return { resource, published: checkpoint.published, total, outcome: 'completed' };
  };
}

/** Parks the job (delayed, no attempt used) until the run is resumed or cancelled. */
async function waitWhilePaused(
  job: Job<ResourceJobData>,
  token: string | undefined,
): Promise<never> {
  await job.moveToDelayed(Date.now() + PAUSED_RECHECK_MS, token);
  throw new DelayedError();
}
