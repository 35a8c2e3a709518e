import { z } from 'zod';

export const isoDateTime = z.iso.datetime({ offset: true });
// Any 8-4-4-4-12 hex id: Postgres accepts every such value, not only RFC 9562 versions.
export const uuid = z.guid();

/** Fields every event carries (docs/decisions/0005-versions-make-events-commute.md). */
export const eventBase = {
  /**
   * Deterministic: `<resource>:<rowId>:v<version>`; the same row state always has the same id.
   * A verification's repair sends a state again as `<resource>:<rowId>:v<version>:repair:<runId>`,
   * so that a consumer's dedupe of the first delivery does not drop it (docs/VERIFY.md).
   */
  eventId: z.string().min(1).max(200),
  tenantId: uuid,
  /** The row's version; consumers apply an event only when it is newer than what they hold. */
  version: z.number().int().min(1),
  /** When the row reached this state (its `updated_at`), for live and historical events alike. */
  occurredAt: isoDateTime,
  /** The backfill run that published it; null for live events. */
  runId: uuid.nullable(),
};

export const metadataBase = {
  targetApplication: z.string().min(1),
  isHistoricalSync: z.boolean(),
  /**
   * Only on a verification's repair (docs/VERIFY.md): the row's state sent again because the
   * application's copy differed from it. Apply it when its version is at least the one held, not
   * only when newer: the copy may hold the same version with other data.
   */
  isRepair: z.literal(true).optional(),
};

export function eventIdFor(
  resource: 'credit' | 'organization' | 'membership',
  rowId: string,
  version: number,
) {
  return `${resource}:${rowId}:v${version}`;
}
