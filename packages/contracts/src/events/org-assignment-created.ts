import { z } from 'zod';
import { eventBase, isoDateTime, metadataBase, uuid } from './common';

/** A membership of a user in an organization: published on creation and by the backfill. */
export const OrgAssignmentCreatedEvent = z.object({
  ...eventBase,
  eventType: z.literal('org.assignment.created'),
  membershipId: uuid,
  userId: uuid,
  /** The organization's id. */
  entityId: uuid,
  role: z.string(),
  metadata: z.object({
    ...metadataBase,
    originalCreatedAt: isoDateTime,
  }),
});
export type OrgAssignmentCreatedEvent = z.infer<typeof OrgAssignmentCreatedEvent>;
