import { upsertIfNewer } from '@historical-sync/consumer/postgres';
import type { OrgCreatedEvent, OrgDeletedEvent, OrgUpdatedEvent } from '@historical-sync/contracts';
import type { CrmDb } from '../schema';

/**
 * org.created / org.updated / org.deleted all carry the organization's full state (a deleted one
 * with `isActive: false`), applied when newer; a deleted organization stays as a tombstone.
 */
export function applyOrganization(
  db: CrmDb,
  event: OrgCreatedEvent | OrgUpdatedEvent | OrgDeletedEvent,
) {
  return upsertIfNewer(
    db,
    'crm_organizations',
    ['id'],
    {
      id: event.entityId,
      tenant_id: event.tenantId,
      code: event.code,
      name: event.name,
      description: event.description,
      industry: event.industry,
      website: event.website,
      parent_id: event.parentId,
      is_active: event.eventType !== 'org.deleted' && event.isActive,
      version: event.version,
      synced_at: new Date(),
    },
    // A repair replaces a copy damaged at the same version (docs/VERIFY.md).
    { orSameVersion: event.metadata.isRepair === true },
  );
}
