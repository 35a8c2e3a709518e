import { upsertIfNewer } from '@historical-sync/consumer/postgres';
import type {
  CreditAllocatedEvent,
  CreditDeactivatedEvent,
  CreditUpdatedEvent,
} from '@historical-sync/contracts';
import type { CrmDb } from '../schema';

export function applyCreditState(db: CrmDb, event: CreditAllocatedEvent | CreditUpdatedEvent) {
  return upsertIfNewer(db, 'crm_credit_allocations', ['id'], {
    id: event.metadata.allocationId,
    tenant_id: event.tenantId,
    entity_id: event.entityId,
    amount: event.amount,
    available_credits: event.availableCredits,
    expires_at: event.expiresAt ? new Date(event.expiresAt) : null,
    is_active: true,
    version: event.version,
    synced_at: new Date(),
  });
}

export function applyCreditDeactivated(db: CrmDb, event: CreditDeactivatedEvent) {
  return upsertIfNewer(db, 'crm_credit_allocations', ['id'], {
    id: event.metadata.allocationId,
    tenant_id: event.tenantId,
    entity_id: event.entityId,
    is_active: false,
    version: event.version,
    synced_at: new Date(),
  });
}
