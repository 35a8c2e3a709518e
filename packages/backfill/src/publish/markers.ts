/**
 * Run markers (sync.started / sync.completed) on the streams a run publishes to, so an
 * application knows when its historical state is complete. Each is published once per run,
 * resource and kind through the same checked publish as the pages, with its own checkpoint key.
 */
import {
  HISTORICAL_EVENT_TYPE,
  type Resource,
  type SyncCompletedMarker,
  type SyncStartedMarker,
  streamName,
} from '@historical-sync/contracts';
import type { Db } from '@historical-sync/db';
import { checkpointKey, pageCommands, type RedisClient } from './publisher';
import { publishThroughBarrier } from './run-barrier';

export interface MarkerContext {
  db: Db;
  redis: RedisClient;
  streamPrefix: string;
  tenantId: string;
  appCode: string;
  runId: string;
  resources: readonly Resource[];
}

async function publishOnce(
  context: MarkerContext,
  resource: Resource,
  kind: 'started' | 'completed',
  marker: SyncStartedMarker | SyncCompletedMarker,
) {
  const stream = streamName(HISTORICAL_EVENT_TYPE[resource], context.appCode, context.streamPrefix);
  const result = await publishThroughBarrier(context.db, context.redis, {
    runId: context.runId,
    checkpointKey: checkpointKey(stream, context.runId, `${resource}:${kind}`),
    stream,
    expectedCursor: '',
    nextCursor: 'published',
    ...pageCommands(stream, [JSON.stringify(marker)]),
  });
  // A marker out already ("stale") is done; a paused or cancelled run publishes none.
  return result.outcome === 'paused' || result.outcome === 'cancelled' ? result.outcome : undefined;
}

/** Why a marker was not published: the run's barrier stopped it. */
export type MarkerGate = 'paused' | 'cancelled' | undefined;

const common = (context: MarkerContext, resource: Resource, kind: string) => ({
  eventId: `run:${context.runId}:${kind}:${resource}`,
  tenantId: context.tenantId,
  runId: context.runId,
  resource,
  resources: [...context.resources],
  occurredAt: new Date().toISOString(),
  metadata: { targetApplication: context.appCode, isHistoricalSync: true as const },
});

/**
 * Publishes the resource's sync.started marker unless it is out already. `total` is asked for
 * only then: with partitions it means counting the whole resource, which only the first needs.
 */
export async function publishStartedMarker(
  context: MarkerContext,
  resource: Resource,
  total: () => Promise<number>,
): Promise<MarkerGate> {
  const stream = streamName(HISTORICAL_EVENT_TYPE[resource], context.appCode, context.streamPrefix);
  if (await context.redis.exists(checkpointKey(stream, context.runId, `${resource}:started`)))
    return undefined;
  return publishOnce(context, resource, 'started', {
    ...common(context, resource, 'started'),
    eventType: 'sync.started',
    total: await total(),
  });
}

export async function publishCompletedMarkers(
  context: MarkerContext,
  counts: Partial<Record<Resource, number>>,
): Promise<MarkerGate> {
  for (const resource of context.resources) {
    const gate = await publishOnce(context, resource, 'completed', {
      ...common(context, resource, 'completed'),
      eventType: 'sync.completed',
      counts,
    });
    if (gate) return gate;
  }
  return undefined;
}
