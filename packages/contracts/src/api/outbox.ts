import { z } from 'zod';

/** Unpublished outbox rows (all, or one tenant's): a growing number means the relay is behind. */
export const OutboxBacklog = z.object({
  unpublished: z.number().int(),
  /** Age of the oldest unpublished row; null when there is none. */
  oldestAgeMs: z.number().nullable(),
  /** Rows set aside by the relay because their payload is not a valid event. */
  failed: z.number().int(),
});
export type OutboxBacklog = z.infer<typeof OutboxBacklog>;
