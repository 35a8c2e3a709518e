import type { Db } from './client';

/*
 * The outbox's backlog: what the relay, the status routes and /metrics report. Outbox rows are written by the database itself: the capture triggers (migration `capture`,
 * docs/CAPTURE.md) insert a row's event in the transaction that changed it, whoever wrote it.
 */

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
