import { upsertIfNewer } from '@historical-sync/consumer/postgres';
import type {
  OrgAssignmentCreatedEvent,
  OrgAssignmentRemovedEvent,
} from '@historical-sync/contracts';
import type { CrmDb } from '../schema';

/** Membership created or removed (kept as a tombstone), applied when newer. */
export function applyMembership(
  db: CrmDb,
  event: OrgAssignmentCreatedEvent | OrgAssignmentRemovedEvent,
) {
  return upsertIfNewer(
    db,
    'crm_memberships',
    ['id'],
    {
      id: event.membershipId,
      tenant_id: event.tenantId,
      user_id: event.userId,
      organization_id: event.entityId,
      role: event.role,
      is_active: event.eventType === 'org.assignment.created',
      version: event.version,
      synced_at: new Date(),
    },
    // A repair replaces a copy damaged at the same version (docs/VERIFY.md).
    { orSameVersion: event.metadata.isRepair === true },
  );
}
