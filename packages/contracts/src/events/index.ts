import { z } from 'zod';
import { CreditAllocatedEvent } from './credit-allocated.js';
import { CreditDeactivatedEvent } from './credit-deactivated.js';
import { CreditUpdatedEvent } from './credit-updated.js';
import { OrgAssignmentCreatedEvent } from './org-assignment-created.js';
import { OrgAssignmentRemovedEvent } from './org-assignment-removed.js';
import { OrgCreatedEvent } from './org-created.js';
import { OrgDeletedEvent } from './org-deleted.js';
import { OrgUpdatedEvent } from './org-updated.js';
import { SyncCompletedMarker, SyncStartedMarker } from './sync-marker.js';

export { eventIdFor } from './common.js';
export {
  CreditAllocatedEvent,
  CreditDeactivatedEvent,
  CreditUpdatedEvent,
  OrgAssignmentCreatedEvent,
  OrgAssignmentRemovedEvent,
  OrgCreatedEvent,
  OrgDeletedEvent,
  OrgUpdatedEvent,
  SyncCompletedMarker,
  SyncStartedMarker,
};

/** Any event on the streams, told apart by `eventType`. */
export const SyncEvent = z.discriminatedUnion('eventType', [
  CreditAllocatedEvent,
  CreditUpdatedEvent,
  CreditDeactivatedEvent,
  OrgCreatedEvent,
  OrgUpdatedEvent,
  OrgDeletedEvent,
  OrgAssignmentCreatedEvent,
  OrgAssignmentRemovedEvent,
]);
export type SyncEvent = z.infer<typeof SyncEvent>;
export type EventType = SyncEvent['eventType'];
export const EVENT_TYPES = SyncEvent.options.map((o) => o.shape.eventType.value) as EventType[];

/** A run's progress marker (not about a row). */
export const SyncMarker = z.discriminatedUnion('eventType', [
  SyncStartedMarker,
  SyncCompletedMarker,
]);
export type SyncMarker = z.infer<typeof SyncMarker>;

/** Anything a consumer finds on a stream: a row event or a run marker. */
export const StreamEvent = z.discriminatedUnion('eventType', [
  ...SyncEvent.options,
  SyncStartedMarker,
  SyncCompletedMarker,
]);
export type StreamEvent = z.infer<typeof StreamEvent>;

export function isSyncMarker(event: StreamEvent): event is SyncMarker {
  return event.eventType === 'sync.started' || event.eventType === 'sync.completed';
}

/** The id of the row an event is about: allocation, organization or membership. */
export function subjectIdOf(event: SyncEvent): string {
  switch (event.eventType) {
    case 'credit.allocated':
    case 'credit.updated':
    case 'credit.deactivated':
      return event.metadata.allocationId;
    case 'org.created':
    case 'org.updated':
    case 'org.deleted':
      return event.entityId;
    case 'org.assignment.created':
    case 'org.assignment.removed':
      return event.membershipId;
  }
}
