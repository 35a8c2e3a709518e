/**
 * What each resource reads and publishes: the rows the spec names (active credit allocations for
 * the application, organizations, active memberships), paged by keyset on `(tenant_id, id)`
 * (DESIGN.md decision 3), and the historical event built from each row.
 */
import {
  CreditAllocatedEvent,
  eventIdFor,
  HISTORICAL_EVENT_TYPE,
  OrgAssignmentCreatedEvent,
  OrgCreatedEvent,
  type Resource,
  type SyncEvent,
} from '@historical-sync/contracts';
import type { Db } from '@historical-sync/db';
import type { z } from 'zod';

export interface ResourceScope {
  tenantId: string;
  appCode: string;
  /** Only rows created (credits: allocated) at or after this instant. */
  sinceDate: Date | null;
}

export interface PageRequest extends ResourceScope {
  /** Keyset cursor: the last id already published; '' to start at the beginning. */
  after: string;
  limit: number;
}

export interface EventContext {
  tenantId: string;
  appCode: string;
  runId: string;
}

interface ResourceDefinition<Row extends { id: string }> {
  eventType: SyncEvent['eventType'];
  schema: z.ZodType<SyncEvent>;
  count(db: Db, scope: ResourceScope): Promise<number>;
  page(db: Db, request: PageRequest): Promise<Row[]>;
  toEvent(row: Row, context: EventContext): SyncEvent;
}

const iso = (date: Date) => date.toISOString();

const credits: ResourceDefinition<{
  id: string;
  entity_id: string;
  allocated_amount: number;
  available_credits: number;
  expires_at: Date | null;
  allocated_at: Date;
  updated_at: Date;
  version: number;
}> = {
  eventType: HISTORICAL_EVENT_TYPE.credits,
  schema: CreditAllocatedEvent,
  count: async (db, scope) => {
    let query = db
      .selectFrom('credit_allocations')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('tenant_id', '=', scope.tenantId)
      .where('target_application', '=', scope.appCode)
      .where('is_active', '=', true);
    if (scope.sinceDate) query = query.where('allocated_at', '>=', scope.sinceDate);
    return (await query.executeTakeFirstOrThrow()).n;
  },
  page: async (db, request) => {
    let query = db
      .selectFrom('credit_allocations')
      .select([
        'id',
        'entity_id',
        'allocated_amount',
        'available_credits',
        'expires_at',
        'allocated_at',
        'updated_at',
        'version',
      ])
      .where('tenant_id', '=', request.tenantId)
      .where('target_application', '=', request.appCode)
      .where('is_active', '=', true);
    if (request.sinceDate) query = query.where('allocated_at', '>=', request.sinceDate);
    if (request.after) query = query.where('id', '>', request.after);
    return query.orderBy('id').limit(request.limit).execute();
  },
  toEvent: (row, context) => ({
    eventId: eventIdFor('credit', row.id, row.version),
    eventType: 'credit.allocated',
    tenantId: context.tenantId,
    version: row.version,
    occurredAt: iso(row.updated_at),
    runId: context.runId,
    entityId: row.entity_id,
    amount: row.allocated_amount,
    availableCredits: row.available_credits,
    expiresAt: row.expires_at ? iso(row.expires_at) : null,
    metadata: {
      allocationId: row.id,
      targetApplication: context.appCode,
      isHistoricalSync: true,
      originalAllocatedAt: iso(row.allocated_at),
    },
  }),
};

const organizations: ResourceDefinition<{
  id: string;
  code: string;
  name: string;
  description: string | null;
  industry: string | null;
  website: string | null;
  parent_id: string | null;
  is_active: boolean;
  created_at: Date;
  updated_at: Date;
  version: number;
}> = {
  eventType: HISTORICAL_EVENT_TYPE.organizations,
  schema: OrgCreatedEvent,
  count: async (db, scope) => {
    let query = db
      .selectFrom('entities')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('tenant_id', '=', scope.tenantId)
      .where('entity_type', '=', 'organization');
    if (scope.sinceDate) query = query.where('created_at', '>=', scope.sinceDate);
    return (await query.executeTakeFirstOrThrow()).n;
  },
  page: async (db, request) => {
    let query = db
      .selectFrom('entities')
      .select([
        'id',
        'code',
        'name',
        'description',
        'industry',
        'website',
        'parent_id',
        'is_active',
        'created_at',
        'updated_at',
        'version',
      ])
      .where('tenant_id', '=', request.tenantId)
      .where('entity_type', '=', 'organization');
    if (request.sinceDate) query = query.where('created_at', '>=', request.sinceDate);
    if (request.after) query = query.where('id', '>', request.after);
    return query.orderBy('id').limit(request.limit).execute();
  },
  toEvent: (row, context) => ({
    eventId: eventIdFor('organization', row.id, row.version),
    eventType: 'org.created',
    tenantId: context.tenantId,
    version: row.version,
    occurredAt: iso(row.updated_at),
    runId: context.runId,
    entityId: row.id,
    code: row.code,
    name: row.name,
    description: row.description,
    industry: row.industry,
    website: row.website,
    parentId: row.parent_id,
    isActive: row.is_active,
    metadata: {
      targetApplication: context.appCode,
      isHistoricalSync: true,
      originalCreatedAt: iso(row.created_at),
    },
  }),
};

const memberships: ResourceDefinition<{
  id: string;
  user_id: string;
  organization_id: string;
  role: string;
  created_at: Date;
  updated_at: Date;
  version: number;
}> = {
  eventType: HISTORICAL_EVENT_TYPE.memberships,
  schema: OrgAssignmentCreatedEvent,
  count: async (db, scope) => {
    let query = db
      .selectFrom('organization_memberships')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('tenant_id', '=', scope.tenantId)
      .where('is_active', '=', true);
    if (scope.sinceDate) query = query.where('created_at', '>=', scope.sinceDate);
    return (await query.executeTakeFirstOrThrow()).n;
  },
  page: async (db, request) => {
    let query = db
      .selectFrom('organization_memberships')
      .select(['id', 'user_id', 'organization_id', 'role', 'created_at', 'updated_at', 'version'])
      .where('tenant_id', '=', request.tenantId)
      .where('is_active', '=', true);
    if (request.sinceDate) query = query.where('created_at', '>=', request.sinceDate);
    if (request.after) query = query.where('id', '>', request.after);
    return query.orderBy('id').limit(request.limit).execute();
  },
  toEvent: (row, context) => ({
    eventId: eventIdFor('membership', row.id, row.version),
    eventType: 'org.assignment.created',
    tenantId: context.tenantId,
    version: row.version,
    occurredAt: iso(row.updated_at),
    runId: context.runId,
    membershipId: row.id,
    userId: row.user_id,
    entityId: row.organization_id,
    role: row.role,
    metadata: {
      targetApplication: context.appCode,
      isHistoricalSync: true,
      originalCreatedAt: iso(row.created_at),
    },
  }),
};

// biome-ignore lint/suspicious/noExplicitAny: each definition has its own row type
export const RESOURCE_DEFINITIONS: Record<Resource, ResourceDefinition<any>> = {
  credits,
  organizations,
  memberships,
};

/** Row counts per selected resource: the dry run's answer and a run's totals. */
export async function countResources(
  db: Db,
  scope: ResourceScope,
  resources: readonly Resource[],
): Promise<Partial<Record<Resource, number>>> {
  const counts = await Promise.all(
    resources.map(async (r) => [r, await RESOURCE_DEFINITIONS[r].count(db, scope)] as const),
  );
  return Object.fromEntries(counts);
}
