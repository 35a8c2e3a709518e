import { z } from 'zod';
import { CreditAllocatedEvent } from './credit-allocated.js';

/**
 * A credit allocation is no longer active (deactivated or expired). It carries the allocation's
 * final state, so an application can keep it as a complete tombstone.
 */
export const CreditDeactivatedEvent = CreditAllocatedEvent.extend({
  eventType: z.literal('credit.deactivated'),
  reason: z.enum(['deactivated', 'expired']),
});
export type CreditDeactivatedEvent = z.infer<typeof CreditDeactivatedEvent>;
