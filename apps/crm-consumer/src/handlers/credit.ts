import { upsertIfNewer } from '@historical-sync/consumer/postgres';
import type {
  CreditAllocatedEvent,
  CreditDeactivatedEvent,
  CreditUpdatedEvent,
} from '@historical-sync/contracts';
import type { CrmDb } from '../schema';

/** Credit allocation state, or its deactivation (kept as a tombstone), applied when newer. */
export function applyCredit(
  db: CrmDb,
  event: CreditAllocatedEvent | CreditUpdatedEvent | CreditDeactivatedEvent,
) {
  return upsertIfNewer(
    db,
    'crm_credit_allocations',
    ['id'],
    {
      id: event.metadata.allocationId,
      tenant_id: event.tenantId,
      entity_id: event.entityId,
      amount: event.amount,
      available_credits: event.availableCredits,
      expires_at: event.expiresAt ? new Date(event.expiresAt) : null,
      is_active: event.eventType !== 'credit.deactivated',
      version: event.version,
      synced_at: new Date(),
    },
    // A repair replaces a copy damaged at the same version (docs/VERIFY.md).
    { orSameVersion: event.metadata.isRepair === true },
  );
}
