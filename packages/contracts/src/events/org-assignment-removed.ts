import { z } from 'zod';
import { OrgAssignmentCreatedEvent } from './org-assignment-created.js';

/** A membership ended. It carries the membership's final state, for a complete tombstone. */
export const OrgAssignmentRemovedEvent = OrgAssignmentCreatedEvent.extend({
  eventType: z.literal('org.assignment.removed'),
});
export type OrgAssignmentRemovedEvent = z.infer<typeof OrgAssignmentRemovedEvent>;
