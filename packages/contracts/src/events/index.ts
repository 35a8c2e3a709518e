import { z } from 'zod';
import { CreditAllocatedEvent } from './credit-allocated';
import { OrgAssignmentCreatedEvent } from './org-assignment-created';
import { OrgCreatedEvent } from './org-created';

export { eventIdFor } from './common';
export { CreditAllocatedEvent, OrgAssignmentCreatedEvent, OrgCreatedEvent };

/** Any event on the streams, told apart by `eventType`. */
export const SyncEvent = z.discriminatedUnion('eventType', [
  CreditAllocatedEvent,
  OrgCreatedEvent,
  OrgAssignmentCreatedEvent,
]);
export type SyncEvent = z.infer<typeof SyncEvent>;
export type EventType = SyncEvent['eventType'];
