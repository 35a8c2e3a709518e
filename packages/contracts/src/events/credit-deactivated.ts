import { z } from 'zod';
import { eventBase, metadataBase, uuid } from './common';

/** A credit allocation is no longer active (deactivated or expired): remove it. */
export const CreditDeactivatedEvent = z.object({
  ...eventBase,
  eventType: z.literal('credit.deactivated'),
  entityId: uuid,
  reason: z.enum(['deactivated', 'expired']),
  metadata: z.object({
    ...metadataBase,
    allocationId: uuid,
  }),
});
export type CreditDeactivatedEvent = z.infer<typeof CreditDeactivatedEvent>;
