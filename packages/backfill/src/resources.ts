/**
 * What each resource reads and publishes: the rows the spec names (active credit allocations for
 * the application, organizations, active memberships), paged by keyset on `(tenant_id, id)`
 * (DESIGN.md decision 3), and the historical event built from each row.
 */
import {
  CreditAllocatedEvent,
  HISTORICAL_EVENT_TYPE,
  OrgAssignmentCreatedEvent,
  OrgCreatedEvent,
  type Resource,
  type SyncEvent,
} from '@historical-sync/contracts';
import type { Db } from '@historical-sync/db';
import {
  type CreditRow,
  creditStateEvent,
  type Delivery,
  type MembershipRow,
  membershipCreatedEvent,
  type OrganizationRow,
  organizationStateEvent,
} from '@historical-sync/domain';
import type { z } from 'zod';

export interface ResourceScope {
  tenantId: string;
  appCode: string;
  /** Only rows created (credits: allocated) at or after this instant. */
  sinceDate: Date | null;
  /** Only ids in [lower, upper): one partition of the resource; absent = all. */
  range?: IdRange;
}

export interface IdRange {
  lower: string | null;
  upper: string | null;
}

/**
 * Partition `index` of `count` equal slices of the uuid space, by the id's first 32 bits. Ids
 * here are random (gen_random_uuid, or hashes), so slices hold about the same number of rows.
 */
export function partitionRange(index: number, count: number): IdRange {
  const bound = (i: number) =>
    i <= 0 || i >= count
      ? null
      : `${Math.floor((i * 2 ** 32) / count)
          .toString(16)
          .padStart(8, '0')}-0000-0000-0000-000000000000`;
  return { lower: bound(index), upper: bound(index + 1) };
}

// biome-ignore lint/suspicious/noExplicitAny: applies to each resource's own query builder
function inRange<Q extends { where: (...args: any[]) => Q }>(
  query: Q,
  range: IdRange | undefined,
): Q {
  let q = query;
  if (range?.lower) q = q.where('id', '>=', range.lower);
  if (range?.upper) q = q.where('id', '<', range.upper);
  return q;
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

const historical = (context: EventContext): Delivery => ({
  targetApplication: context.appCode,
  isHistoricalSync: true,
  runId: context.runId,
});

const credits: ResourceDefinition<CreditRow> = {
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
    return (await inRange(query, scope.range).executeTakeFirstOrThrow()).n;
  },
  page: async (db, request) => {
    let query = db
      .selectFrom('credit_allocations')
      .select([
        'id',
        'entity_id',
        'target_application',
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
    return inRange(query, request.range).orderBy('id').limit(request.limit).execute();
  },
  toEvent: (row, context) =>
    creditStateEvent('credit.allocated', context.tenantId, row, historical(context)),
};

const organizations: ResourceDefinition<OrganizationRow> = {
  eventType: HISTORICAL_EVENT_TYPE.organizations,
  schema: OrgCreatedEvent,
  count: async (db, scope) => {
    let query = db
      .selectFrom('entities')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('tenant_id', '=', scope.tenantId)
      .where('entity_type', '=', 'organization');
    if (scope.sinceDate) query = query.where('created_at', '>=', scope.sinceDate);
    return (await inRange(query, scope.range).executeTakeFirstOrThrow()).n;
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
    return inRange(query, request.range).orderBy('id').limit(request.limit).execute();
  },
  toEvent: (row, context) =>
    organizationStateEvent('org.created', context.tenantId, row, historical(context)),
};

const memberships: ResourceDefinition<MembershipRow> = {
  eventType: HISTORICAL_EVENT_TYPE.memberships,
  schema: OrgAssignmentCreatedEvent,
  count: async (db, scope) => {
    let query = db
      .selectFrom('organization_memberships')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('tenant_id', '=', scope.tenantId)
      .where('is_active', '=', true);
    if (scope.sinceDate) query = query.where('created_at', '>=', scope.sinceDate);
    return (await inRange(query, scope.range).executeTakeFirstOrThrow()).n;
  },
  page: async (db, request) => {
    let query = db
      .selectFrom('organization_memberships')
      .select(['id', 'user_id', 'organization_id', 'role', 'created_at', 'updated_at', 'version'])
      .where('tenant_id', '=', request.tenantId)
      .where('is_active', '=', true);
    if (request.sinceDate) query = query.where('created_at', '>=', request.sinceDate);
    if (request.after) query = query.where('id', '>', request.after);
    return inRange(query, request.range).orderBy('id').limit(request.limit).execute();
  },
  toEvent: (row, context) => membershipCreatedEvent(context.tenantId, row, historical(context)),
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
