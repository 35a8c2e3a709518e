/**
 * Row -> event, the one place that shapes events from wrapper rows: the backfill and the live
 * services both build here, so a historical and a live event of the same row version agree.
 */
import { type EventType, eventIdFor, type SyncEvent } from '@historical-sync/contracts';
import type { CreditAllocation, Entity, OrganizationMembership } from '@historical-sync/db';

/** The event type `T`'s own shape. */
type EventOf<T extends EventType> = Extract<SyncEvent, { eventType: T }>;

/** How an event is being delivered: to which application, by the backfill or live. */
export interface Delivery {
  targetApplication: string;
  isHistoricalSync: boolean;
  runId: string | null;
}

const iso = (date: Date) => date.toISOString();
const base = (
  id: string,
  row: { version: number; updated_at: Date },
  tenantId: string,
  delivery: Delivery,
) => ({
  eventId: id,
  tenantId,
  version: row.version,
  occurredAt: iso(row.updated_at),
  runId: delivery.runId,
});

export type CreditRow = Pick<
  CreditAllocation,
  | 'id'
  | 'entity_id'
  | 'target_application'
  | 'allocated_amount'
  | 'available_credits'
  | 'expires_at'
  | 'allocated_at'
  | 'updated_at'
  | 'version'
>;

export function creditStateEvent<T extends 'credit.allocated' | 'credit.updated'>(
  eventType: T,
  tenantId: string,
  row: CreditRow,
  delivery: Delivery,
): EventOf<T> {
  return {
    ...base(eventIdFor('credit', row.id, row.version), row, tenantId, delivery),
    eventType,
    entityId: row.entity_id,
    amount: row.allocated_amount,
    availableCredits: row.available_credits,
    expiresAt: row.expires_at ? iso(row.expires_at) : null,
    metadata: {
      allocationId: row.id,
      // A credit allocation belongs to one application, whoever delivers it.
      targetApplication: row.target_application,
      isHistoricalSync: delivery.isHistoricalSync,
      originalAllocatedAt: iso(row.allocated_at),
    },
  } as EventOf<T>;
}

export function creditDeactivatedEvent(
  tenantId: string,
  row: CreditRow,
  reason: 'deactivated' | 'expired',
  delivery: Delivery,
): EventOf<'credit.deactivated'> {
  return {
    ...creditStateEvent('credit.allocated', tenantId, row, delivery),
    eventType: 'credit.deactivated',
    reason,
  };
}

export type OrganizationRow = Pick<
  Entity,
  | 'id'
  | 'code'
  | 'name'
  | 'description'
  | 'industry'
  | 'website'
  | 'parent_id'
  | 'is_active'
  | 'created_at'
  | 'updated_at'
  | 'version'
>;

export function organizationStateEvent<T extends 'org.created' | 'org.updated'>(
  eventType: T,
  tenantId: string,
  row: OrganizationRow,
  delivery: Delivery,
): EventOf<T> {
  return {
    ...base(eventIdFor('organization', row.id, row.version), row, tenantId, delivery),
    eventType,
    entityId: row.id,
    code: row.code,
    name: row.name,
    description: row.description,
    industry: row.industry,
    website: row.website,
    parentId: row.parent_id,
    isActive: row.is_active,
    metadata: {
      targetApplication: delivery.targetApplication,
      isHistoricalSync: delivery.isHistoricalSync,
      originalCreatedAt: iso(row.created_at),
    },
  } as EventOf<T>;
}

export function organizationDeletedEvent(
  tenantId: string,
  row: OrganizationRow,
  delivery: Delivery,
): EventOf<'org.deleted'> {
  return {
    ...organizationStateEvent('org.created', tenantId, row, delivery),
    eventType: 'org.deleted',
  };
}

export type MembershipRow = Pick<
  OrganizationMembership,
  'id' | 'user_id' | 'organization_id' | 'role' | 'created_at' | 'updated_at' | 'version'
>;

export function membershipCreatedEvent(
  tenantId: string,
  row: MembershipRow,
  delivery: Delivery,
): EventOf<'org.assignment.created'> {
  return {
    ...base(eventIdFor('membership', row.id, row.version), row, tenantId, delivery),
    eventType: 'org.assignment.created',
    membershipId: row.id,
    userId: row.user_id,
    entityId: row.organization_id,
    role: row.role,
    metadata: {
      targetApplication: delivery.targetApplication,
      isHistoricalSync: delivery.isHistoricalSync,
      originalCreatedAt: iso(row.created_at),
    },
  };
}

export function membershipRemovedEvent(
  tenantId: string,
  row: MembershipRow,
  delivery: Delivery,
): EventOf<'org.assignment.removed'> {
  return {
    ...membershipCreatedEvent(tenantId, row, delivery),
    eventType: 'org.assignment.removed',
  };
}
