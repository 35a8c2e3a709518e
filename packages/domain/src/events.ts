/**
 * Row -> event in TypeScript, for code that holds rows in memory (the benchmark's naive baseline,
 * tests). Neither the live path nor the backfill uses it: both render events in Postgres with the
 * `hs_*_event` functions of the `capture` migration (docs/CAPTURE.md). A test pins these builders
 * to that rendering (packages/backfill/test/render.test.ts), so they cannot drift apart.
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

/** A timestamp as a Date, or already as ISO-8601 text (e.g. read so from Postgres). */
export type Instant = Date | string;
const iso = (instant: Instant) => (typeof instant === 'string' ? instant : instant.toISOString());
type WithInstants<T, K extends keyof T> = Omit<T, K> & {
  [P in K]: T[P] extends Date ? Instant : T[P] extends Date | null ? Instant | null : T[P];
};

export type CreditRow = WithInstants<
  Pick<
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
  >,
  'expires_at' | 'allocated_at' | 'updated_at'
>;

export function creditStateEvent<
  T extends 'credit.allocated' | 'credit.updated' | 'credit.deactivated',
>(eventType: T, tenantId: string, row: CreditRow, delivery: Delivery): EventOf<T> {
  return {
    eventId: eventIdFor('credit', row.id, row.version),
    tenantId,
    version: row.version,
    occurredAt: iso(row.updated_at),
    runId: delivery.runId,
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
  const event = creditStateEvent('credit.deactivated', tenantId, row, delivery);
  event.reason = reason;
  return event;
}

export type OrganizationRow = WithInstants<
  Pick<
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
  >,
  'created_at' | 'updated_at'
>;

export function organizationStateEvent<T extends 'org.created' | 'org.updated' | 'org.deleted'>(
  eventType: T,
  tenantId: string,
  row: OrganizationRow,
  delivery: Delivery,
): EventOf<T> {
  return {
    eventId: eventIdFor('organization', row.id, row.version),
    tenantId,
    version: row.version,
    occurredAt: iso(row.updated_at),
    runId: delivery.runId,
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
  return organizationStateEvent('org.deleted', tenantId, row, delivery);
}

export type MembershipRow = WithInstants<
  Pick<
    OrganizationMembership,
    'id' | 'user_id' | 'organization_id' | 'role' | 'created_at' | 'updated_at' | 'version'
  >,
  'created_at' | 'updated_at'
>;

export function membershipCreatedEvent(
  tenantId: string,
  row: MembershipRow,
  delivery: Delivery,
): EventOf<'org.assignment.created'> {
  return membershipEvent('org.assignment.created', tenantId, row, delivery);
}

// Object literals, not spreads: V8 copies spread properties through a slow generic path (about
// 100x slower here), and the relay builds an event per write.
function membershipEvent<T extends 'org.assignment.created' | 'org.assignment.removed'>(
  eventType: T,
  tenantId: string,
  row: MembershipRow,
  delivery: Delivery,
): EventOf<T> {
  return {
    eventId: eventIdFor('membership', row.id, row.version),
    tenantId,
    version: row.version,
    occurredAt: iso(row.updated_at),
    runId: delivery.runId,
    eventType,
    membershipId: row.id,
    userId: row.user_id,
    entityId: row.organization_id,
    organizationId: row.organization_id,
    role: row.role,
    metadata: {
      targetApplication: delivery.targetApplication,
      isHistoricalSync: delivery.isHistoricalSync,
      originalCreatedAt: iso(row.created_at),
    },
  } as EventOf<T>;
}

export function membershipRemovedEvent(
  tenantId: string,
  row: MembershipRow,
  delivery: Delivery,
): EventOf<'org.assignment.removed'> {
  return membershipEvent('org.assignment.removed', tenantId, row, delivery);
}
