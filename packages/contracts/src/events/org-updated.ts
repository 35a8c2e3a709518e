import { z } from 'zod';
import { OrgCreatedEvent } from './org-created.js';

/** An organization's new full state after a change. */
export const OrgUpdatedEvent = OrgCreatedEvent.extend({
  eventType: z.literal('org.updated'),
});
export type OrgUpdatedEvent = z.infer<typeof OrgUpdatedEvent>;
