import { upsertIfNewer } from '@historical-sync/consumer/postgres';
import type { OrgCreatedEvent, OrgDeletedEvent, OrgUpdatedEvent } from '@historical-sync/contracts';
import type { CrmDb } from '../schema';

/** org.created / org.updated: the organization's full state, applied when newer. */
export function applyOrganizationState(db: CrmDb, event: OrgCreatedEvent | OrgUpdatedEvent) {
  return upsertIfNewer(db, 'crm_organizations', ['id'], {
    id: event.entityId,
    tenant_id: event.tenantId,
    code: event.code,
    name: event.name,
    description: event.description,
    industry: event.industry,
    website: event.website,
    parent_id: event.parentId,
    is_active: event.isActive,
    version: event.version,
    synced_at: new Date(),
  });
}

/** org.deleted: a tombstone that keeps the other columns (or creates the row bare). */
export function applyOrganizationDeleted(db: CrmDb, event: OrgDeletedEvent) {
  return upsertIfNewer(db, 'crm_organizations', ['id'], {
    id: event.entityId,
    tenant_id: event.tenantId,
    is_active: false,
    version: event.version,
    synced_at: new Date(),
  });
}
