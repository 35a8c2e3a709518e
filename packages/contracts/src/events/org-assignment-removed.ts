import { z } from 'zod';
import { eventBase, metadataBase, uuid } from './common';

/** A membership ended: remove it. */
export const OrgAssignmentRemovedEvent = z.object({
  ...eventBase,
  eventType: z.literal('org.assignment.removed'),
  membershipId: uuid,
  userId: uuid,
  entityId: uuid,
  metadata: z.object(metadataBase),
});
export type OrgAssignmentRemovedEvent = z.infer<typeof OrgAssignmentRemovedEvent>;
