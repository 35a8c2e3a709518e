/**
 * What each resource reads and publishes: the rows the spec names (active credit allocations for
 * the application, organizations, active memberships), paged by keyset on `(tenant_id, id)`
 * (docs/decisions/0003-keyset-pagination.md), each row rendered as its historical event.
 *
 * Postgres renders the event JSON (string concatenation) on its own core, so the worker passes
 * strings from Postgres to Redis without building, formatting or serializing objects: that was
 * most of the worker's per-row cost (publish/page-commands.ts frames a page's bytes as XADDs). The rendering is the live path's own (the capture
 * migration's SQL functions), and each page's first event is checked against the full zod
 * contract, every event against its data-dependent fields.
 */
import {
  CreditAllocatedEvent,
  CreditDeactivatedEvent,
  HISTORICAL_EVENT_TYPE,
  OrgAssignmentCreatedEvent,
  OrgAssignmentRemovedEvent,
  OrgCreatedEvent,
  OrgDeletedEvent,
  type Resource,
  type ResourceEntry,
  registerResource,
  type SyncEvent,
  TOMBSTONE_EVENT_TYPE,
} from '@historical-sync/contracts';
import type { Db } from '@historical-sync/db';
import { type RawBuilder, sql } from 'kysely';
import type { z } from 'zod';

export interface ResourceScope {
  tenantId: string;
  appCode: string;
  /**
   * Only rows created (credits: allocated) at or after this instant: canonical instant text
   * (canonicalInstant), compared by Postgres to the microsecond.
   */
  sinceDate: string | null;
  /** Only ids in [lower, upper): one partition of the resource; absent = all. */
  range?: IdRange;
  /**
   * A repair run's rows (docs/VERIFY.md): only the rows the run lists, active ones as the
   * resource's event, or (`tombstones`) inactive ones as its tombstone.
   */
  repair?: { runId: string; tombstones: boolean };
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

/** One row of a page: its id (the keyset cursor), its event as JSON, and the checked fields. */
export interface RenderedRow {
  id: string;
  event: string;
  [checkedField: string]: unknown;
}

/** How a row becomes an event of one type. */
export interface Rendering {
  /** A built-in event type, or a registered resource's (contracts, resources.ts). */
  eventType: SyncEvent['eventType'] | (string & {});
  /** The event's full contract: every page's first event is checked against it. */
  schema: z.ZodType;
  /**
   * The event's JSON text, rendered by Postgres from the row (the table's own name is the row):
   * the resource's rendering function, which its capture calls too.
   */
  render(context: EventContext): RawBuilder<string>;
}

/** A resource's rows: where they are, which are an application's, and how they render. */
export interface ResourceDefinition extends Rendering {
  /**
   * The contract's fields whose validity depends on the row's data rather than on the rendering
   * or the column types (e.g. a name that must not be empty): checked on every event, from the
   * columns of the same names.
   */
  rowSchema?: z.ZodObject;
  /** The table; its rows have `tenant_id`, `id` (uuid), `version` and `is_active`. */
  table: string;
  /** The column `sinceDate` filters on. */
  dateColumn: string;
  /** Which of the tenant's rows are the application's, active or not. */
  belongs(scope: ResourceScope): RawBuilder<unknown>;
  /**
   * Whether a backfill sends only active rows. Organizations go out inactive too (org.created
   * with `isActive` false), as the spec's backfill does.
   */
  activeOnly: boolean;
  /** The event of a row no longer active: what a repair sends for a row the source deactivated. */
  tombstone: Rendering;
}

// The one rendering of each event, shared with the live path's capture triggers: the `hs_*_event`
// SQL functions of the `capture` migration (docs/CAPTURE.md). Plain SQL expressions that the
// planner inlines, so a page costs what the hand-written concatenation it replaced did. A NULL
// event (a timestamp outside years 0001-9999) fails the row by name.
const runParam = (context: EventContext) => sql`${context.runId}::uuid`;
// The page's tenant, as canonical text once per page (folded by the planner), not per row.
const tenantParam = (context: EventContext) => sql`${context.tenantId}::uuid::text`;

const credits: ResourceDefinition = {
  eventType: HISTORICAL_EVENT_TYPE.credits,
  schema: CreditAllocatedEvent,
  table: 'credit_allocations',
  dateColumn: 'allocated_at',
  belongs: (scope) => sql`target_application = ${scope.appCode}`,
  activeOnly: true,
  render: (context) =>
    sql<string>`hs_credit_event(credit_allocations, 'credit.allocated', ${runParam(context)}, NULL, ${tenantParam(context)})`,
  tombstone: {
    eventType: TOMBSTONE_EVENT_TYPE.credits,
    schema: CreditDeactivatedEvent,
    // The live path's reason when no writer said one (the capture migration).
    render: (context) =>
      sql<string>`hs_credit_event(credit_allocations, 'credit.deactivated', ${runParam(context)}, CASE WHEN expires_at <= now() THEN 'expired' ELSE 'deactivated' END, ${tenantParam(context)})`,
  },
};

const organizations: ResourceDefinition = {
  eventType: HISTORICAL_EVENT_TYPE.organizations,
  schema: OrgCreatedEvent,
  rowSchema: OrgCreatedEvent.pick({ code: true, name: true }),
  table: 'entities',
  dateColumn: 'created_at',
  belongs: () => sql`entity_type = 'organization'`,
  activeOnly: false,
  render: (context) =>
    sql<string>`hs_organization_event(entities, 'org.created', ${context.appCode}, ${runParam(context)}, ${tenantParam(context)})`,
  tombstone: {
    eventType: TOMBSTONE_EVENT_TYPE.organizations,
    schema: OrgDeletedEvent,
    render: (context) =>
      sql<string>`hs_organization_event(entities, 'org.deleted', ${context.appCode}, ${runParam(context)}, ${tenantParam(context)})`,
  },
};

const memberships: ResourceDefinition = {
  eventType: HISTORICAL_EVENT_TYPE.memberships,
  schema: OrgAssignmentCreatedEvent,
  table: 'organization_memberships',
  dateColumn: 'created_at',
  belongs: () => sql`TRUE`,
  activeOnly: true,
  render: (context) =>
    sql<string>`hs_membership_event(organization_memberships, 'org.assignment.created', ${context.appCode}, ${runParam(context)}, ${tenantParam(context)})`,
  tombstone: {
    eventType: TOMBSTONE_EVENT_TYPE.memberships,
    schema: OrgAssignmentRemovedEvent,
    render: (context) =>
      sql<string>`hs_membership_event(organization_memberships, 'org.assignment.removed', ${context.appCode}, ${runParam(context)}, ${tenantParam(context)})`,
  },
};

export const RESOURCE_DEFINITIONS: Record<Resource, ResourceDefinition> = {
  credits,
  organizations,
  memberships,
};

/**
 * Adds a resource (docs/ADDING-A-RESOURCE.md): its contract to the contracts' registry and its
 * rows here. Every process that reads or publishes it calls this at start (a module loaded with
 * `node --import`), before building the API or the workers; its migration creates its rendering
 * function and capture (`installCapture`).
 */
export function defineResource(entry: ResourceEntry, rows: ResourceDefinition): Resource {
  const name = registerResource(entry);
  RESOURCE_DEFINITIONS[name] = rows;
  return name;
}

/**
 * How the scope's rows become events. A repair's are the same events marked as a repair: the
 * eventId gets `:repair:<runId>` (a consumer's dedupe of the first delivery must not drop it) and
 * the metadata `"isRepair":true` (apply at the version held too); its tombstone partition renders
 * the resource's tombstone. Text edits of the rendered JSON, safe because string values are
 * JSON-escaped: `"metadata":{` never occurs inside one.
 */
export function renderingOf(resource: Resource, scope: ResourceScope): Rendering {
  const definition = RESOURCE_DEFINITIONS[resource];
  if (!scope.repair) return definition;
  const base = scope.repair.tombstones ? definition.tombstone : definition;
  return {
    ...base,
    render: (context) =>
      sql<string>`replace(
        regexp_replace(${base.render(context)}, '^[{]"eventId":"([^"]*)"', ${`{"eventId":"\\1:repair:${context.runId}"`}),
        '"metadata":{', '"metadata":{"isRepair":true,')`,
  };
}

/** The WHERE clause shared by counting and paging: tenant, resource rows, date, partition. */
function scopeWhere(definition: ResourceDefinition, scope: ResourceScope) {
  const conditions = [sql`tenant_id = ${scope.tenantId}`, definition.belongs(scope)];
  if (scope.repair) conditions.push(scope.repair.tombstones ? sql`NOT is_active` : sql`is_active`);
  else if (definition.activeOnly) conditions.push(sql`is_active`);
  if (scope.sinceDate)
    conditions.push(sql`${sql.ref(definition.dateColumn)} >= ${scope.sinceDate}::timestamptz`);
  if (scope.range?.lower) conditions.push(sql`id >= ${scope.range.lower}::uuid`);
  if (scope.range?.upper) conditions.push(sql`id < ${scope.range.upper}::uuid`);
  return sql.join(conditions, sql` AND `);
}

/**
 * The rows a scope reads from: the resource's table, or for a repair only the rows its run lists
 * (joined on the list's primary key, in id order, so a page costs its own rows).
 */
function scopeFrom(definition: ResourceDefinition, scope: ResourceScope, resource: Resource) {
  const table = sql.table(definition.table);
  if (!scope.repair) return table;
  return sql`backfill_run_rows AS repair JOIN ${table} ON id = repair.row_id
    AND repair.run_id = ${scope.repair.runId} AND repair.resource = ${resource}`;
}

/**
 * The conditions, on the resource's table, that make a row the tenant's application's, active or
 * not: what a verification compares (verify/source.ts).
 */
export function belongsToApplication(
  resource: Resource,
  scope: { tenantId: string; appCode: string },
): RawBuilder<unknown> {
  const definition = RESOURCE_DEFINITIONS[resource];
  return sql`tenant_id = ${scope.tenantId} AND ${definition.belongs({ ...scope, sinceDate: null })}`;
}

export async function countRows(db: Db, resource: Resource, scope: ResourceScope): Promise<number> {
  const definition = RESOURCE_DEFINITIONS[resource];
  const { rows } = await sql<{ n: number }>`
    SELECT count(*)::int AS n FROM ${scopeFrom(definition, scope, resource)} WHERE ${scopeWhere(definition, scope)}
  `.execute(db);
  return rows[0]?.n ?? 0;
}

/**
 * The next page after `request.after`, in id order, one row per event: the page of
 * renderPageCommands as values (for reading a page's events; the worker publishes the other).
 */
export async function renderPage(
  db: Db,
  resource: Resource,
  request: PageRequest,
  context: EventContext,
): Promise<RenderedRow[]> {
  const columns = Object.keys(RESOURCE_DEFINITIONS[resource].rowSchema?.shape ?? {});
  const { rows } = await pageQuery(resource, request, context, columns).execute(db);
  return rows;
}

/** The page's rows: id, event, then the checked columns, in id order. */
export function pageQuery(
  resource: Resource,
  request: PageRequest,
  context: EventContext,
  columns: string[],
) {
  const definition = RESOURCE_DEFINITIONS[resource];
  const checked = columns.map((column) => sql.ref(column));
  const after = request.after ? sql` AND id > ${request.after}::uuid` : sql``;
  return sql<RenderedRow>`
    SELECT id, ${renderingOf(resource, request).render(context)} AS event${checked.length ? sql`, ${sql.join(checked)}` : sql``}
    FROM ${scopeFrom(definition, request, resource)}
    WHERE ${scopeWhere(definition, request)}${after}
    ORDER BY id
    LIMIT ${request.limit}
  `;
}

/** Row counts per selected resource: the dry run's answer and a run's totals. */
export async function countResources(
  db: Db,
  scope: ResourceScope,
  resources: readonly Resource[],
): Promise<Partial<Record<Resource, number>>> {
  const counts = await Promise.all(
    resources.map(async (r) => [r, await countRows(db, r, scope)] as const),
  );
  return Object.fromEntries(counts);
}
