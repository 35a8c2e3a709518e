import { z } from 'zod';
import { CreditAllocatedEvent } from './credit-allocated.js';

/** A credit allocation's new full state after a change (amount, available credits, expiry). */
export const CreditUpdatedEvent = CreditAllocatedEvent.extend({
  eventType: z.literal('credit.updated'),
});
export type CreditUpdatedEvent = z.infer<typeof CreditUpdatedEvent>;
