import { z } from 'zod';
import { eventBase, isoDateTime, metadataBase, uuid } from './common.js';

/** A credit allocation's full state: published on allocation and by the backfill. */
export const CreditAllocatedEvent = z.object({
  ...eventBase,
  eventType: z.literal('credit.allocated'),
  /** The entity the credits are allocated to. */
  entityId: uuid,
  /**
   * Amounts are JSON numbers, so only integers every JSON reader holds exactly: `int()` stops at
   * 2^53 - 1, and the database refuses more at the source, so the live and historical paths
   * publish the same exact value (migration 2026-11-28T01-00_credit-amounts-exact).
   */
  amount: z.number().int().min(0),
  availableCredits: z.number().int().min(0),
  expiresAt: isoDateTime.nullable(),
  metadata: z.object({
    ...metadataBase,
    allocationId: uuid,
    originalAllocatedAt: isoDateTime,
  }),
});
export type CreditAllocatedEvent = z.infer<typeof CreditAllocatedEvent>;
