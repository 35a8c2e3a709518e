import { z } from 'zod';
import { OrgCreatedEvent } from './org-created.js';

/**
 * An organization was deleted (deactivated in the wrapper; `isActive` is false). It carries the
 * organization's final state, so an application can keep it as a complete tombstone.
 */
export const OrgDeletedEvent = OrgCreatedEvent.extend({
  eventType: z.literal('org.deleted'),
});
export type OrgDeletedEvent = z.infer<typeof OrgDeletedEvent>;
