import { z } from 'zod';
import { eventBase, isoDateTime, metadataBase, uuid } from './common.js';

/** A membership of a user in an organization: published on creation and by the backfill. */
export const OrgAssignmentCreatedEvent = z.object({
  ...eventBase,
  eventType: z.literal('org.assignment.created'),
  membershipId: uuid,
  userId: uuid,
  /** The organization's id, as every organization-scoped event names it. */
  entityId: uuid,
  /**
   * The organization's id again, under the name the spec gives it; equal to entityId. Every event
   * written now carries it (the builders and the backfill's SQL rendering, pinned by a test).
   * Optional only so that entries written before it existed, still in streams and in the outbox,
   * stay valid rather than being dead-lettered or set aside: for those, entityId is the
   * organization.
   */
  organizationId: uuid.optional(),
  /** The role's name: the schema has no role table, so no role id exists to send. */
  role: z.string(),
  metadata: z.object({
    ...metadataBase,
    originalCreatedAt: isoDateTime,
  }),
});
export type OrgAssignmentCreatedEvent = z.infer<typeof OrgAssignmentCreatedEvent>;
