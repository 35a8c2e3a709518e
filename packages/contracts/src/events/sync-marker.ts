import { z } from 'zod';
import { isoDateTime, uuid } from './common.js';

const RESOURCE = z.enum(['credits', 'organizations', 'memberships']);

const markerBase = {
  /** `run:<runId>:<started|completed>:<resource>`: one marker per run, stream and kind. */
  eventId: z.string().min(1).max(200),
  tenantId: uuid,
  runId: uuid,
  /** The resource whose historical events this stream carries for the run. */
  resource: RESOURCE,
  /** Every resource of the run: an application is in sync once each has completed. */
  resources: z.array(RESOURCE).min(1),
  occurredAt: isoDateTime,
  metadata: z.object({
    targetApplication: z.string().min(1),
    isHistoricalSync: z.literal(true),
  }),
};

/** Published on a stream before the run's first historical event there. */
export const SyncStartedMarker = z.object({
  ...markerBase,
  eventType: z.literal('sync.started'),
  /** Rows the run expects to publish for `resource`. */
  total: z.number().int().min(0),
});

/** Published on a stream after the run's last historical event there. */
export const SyncCompletedMarker = z.object({
  ...markerBase,
  eventType: z.literal('sync.completed'),
  /** Events the run published per resource. */
  counts: z.partialRecord(RESOURCE, z.number().int().min(0)),
});

export type SyncStartedMarker = z.infer<typeof SyncStartedMarker>;
export type SyncCompletedMarker = z.infer<typeof SyncCompletedMarker>;
