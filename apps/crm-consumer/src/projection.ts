/**
 * Applies one stream event to the CRM's projection, in one transaction: dedupe by eventId, then
 * the version-gated change. Events for other applications (credit-events is shared) are ignored.
 */

import { firstDelivery } from '@historical-sync/consumer/postgres';
import { isSyncMarker, type StreamEvent } from '@historical-sync/contracts';
import { applyCredit } from './handlers/credit';
import { applyMembership } from './handlers/membership';
import { applyOrganization } from './handlers/organization';
import { applySyncMarker, type RunState } from './handlers/sync-marker';
import type { CrmDb } from './schema';

export type ApplyOutcome =
  | { kind: 'applied' | 'stale' | 'duplicate' | 'ignored' }
  | { kind: 'marker'; run: RunState };

/**
 * `deadLettered` is, for a sync.completed marker, how many of its run's entries are in the
 * dead-letter stream (the consumer SDK counts them once every earlier entry is handled).
 */
export async function applyEvent(
  db: CrmDb,
  event: StreamEvent,
  appCode: string,
  deadLettered = 0,
): Promise<ApplyOutcome> {
  if (event.metadata.targetApplication !== appCode) return { kind: 'ignored' };
  return db.transaction().execute(async (trx) => {
    if (!(await firstDelivery(trx, 'crm_processed_events', event.eventId)))
      return { kind: 'duplicate' };
    if (isSyncMarker(event)) {
      return { kind: 'marker', run: await applySyncMarker(trx, event, deadLettered) };
    }
    let applied: boolean;
    switch (event.eventType) {
      case 'org.created':
      case 'org.updated':
      case 'org.deleted':
        applied = await applyOrganization(trx, event);
        break;
      case 'org.assignment.created':
      case 'org.assignment.removed':
        applied = await applyMembership(trx, event);
        break;
      case 'credit.allocated':
      case 'credit.updated':
      case 'credit.deactivated':
        applied = await applyCredit(trx, event);
        break;
    }
    return { kind: applied ? 'applied' : 'stale' };
  });
}

/** When the tenant's latest complete backfill finished, as recorded from its markers. */
export async function inSyncSince(db: CrmDb, tenantId: string): Promise<Date | null> {
  const row = await db
    .selectFrom('crm_sync_runs')
    .select('completed_at')
    .where('tenant_id', '=', tenantId)
    .where('completed_at', 'is not', null)
    .orderBy('completed_at', 'desc')
    .limit(1)
    .executeTakeFirst();
  return row?.completed_at ?? null;
}
