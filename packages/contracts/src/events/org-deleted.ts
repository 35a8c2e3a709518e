import { z } from 'zod';
import { eventBase, metadataBase, uuid } from './common';

/** An organization was deleted (deactivated in the wrapper): remove it. */
export const OrgDeletedEvent = z.object({
  ...eventBase,
  eventType: z.literal('org.deleted'),
  entityId: uuid,
  metadata: z.object(metadataBase),
});
export type OrgDeletedEvent = z.infer<typeof OrgDeletedEvent>;
