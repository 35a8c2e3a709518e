import { upsertIfNewer } from '@historical-sync/consumer/postgres';
import type {
  OrgAssignmentCreatedEvent,
  OrgAssignmentRemovedEvent,
} from '@historical-sync/contracts';
import type { CrmDb } from '../schema';

export function applyMembershipCreated(db: CrmDb, event: OrgAssignmentCreatedEvent) {
  return upsertIfNewer(db, 'crm_memberships', ['id'], {
    id: event.membershipId,
    tenant_id: event.tenantId,
    user_id: event.userId,
    organization_id: event.entityId,
    role: event.role,
    is_active: true,
    version: event.version,
    synced_at: new Date(),
  });
}

export function applyMembershipRemoved(db: CrmDb, event: OrgAssignmentRemovedEvent) {
  return upsertIfNewer(db, 'crm_memberships', ['id'], {
    id: event.membershipId,
    tenant_id: event.tenantId,
    user_id: event.userId,
    organization_id: event.entityId,
    is_active: false,
    version: event.version,
    synced_at: new Date(),
  });
}
