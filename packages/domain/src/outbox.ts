import {
  aggregateOf,
  type SyncEvent,
  SyncEvent as SyncEventSchema,
  subjectIdOf,
} from '@historical-sync/contracts';
import type { Db } from '@historical-sync/db';

/**
 * Records `event` for the relay, inside the caller's transaction (DESIGN.md decision 6): the
 * event exists if and only if the row change committed. Validated here, so an event that would
 * break consumers never enters the outbox.
 */
export async function appendOutbox(trx: Db, tenantId: string, event: SyncEvent): Promise<void> {
  SyncEventSchema.parse(event);
  await trx
    .insertInto('outbox')
    .values({
      tenant_id: tenantId,
      aggregate: aggregateOf(event.eventType),
      aggregate_id: subjectIdOf(event),
      event_type: event.eventType,
      version: event.version,
      payload: JSON.stringify(event),
    })
    .execute();
}

export interface OutboxBacklog {
  unpublished: number;
  /** Age of the oldest unpublished row; null when there is none. */
  oldestAgeMs: number | null;
  /** Rows set aside by the relay because their payload is not a valid event (`failed_reason`). */
  failed: number;
}

/** Unpublished outbox rows, for one tenant or all: a growing number means the relay is behind. */
export async function outboxBacklog(db: Db, tenantId?: string): Promise<OutboxBacklog> {
  let query = db
    .selectFrom('outbox')
    .select((eb) => [
      eb.fn.countAll<number>().filterWhere('failed_reason', 'is', null).as('unpublished'),
      eb.fn.min('created_at').filterWhere('failed_reason', 'is', null).as('oldest'),
      eb.fn.countAll<number>().filterWhere('failed_reason', 'is not', null).as('failed'),
    ])
    .where('published_at', 'is', null);
  if (tenantId) query = query.where('tenant_id', '=', tenantId);
  const row = await query.executeTakeFirstOrThrow();
  const oldest = row.oldest as Date | null;
  return {
    unpublished: row.unpublished,
    oldestAgeMs: oldest ? Math.max(0, Date.now() - oldest.getTime()) : null,
    failed: row.failed,
  };
}
