/**
 * What each resource reads and publishes: the rows the spec names (active credit allocations for
 * the application, organizations, active memberships), paged by keyset on `(tenant_id, id)`
 * (DESIGN.md decision 3), each row rendered as its historical event.
 *
 * Postgres renders the event JSON (string concatenation) on its own core, so the worker passes
 * strings from Postgres to Redis without building, formatting or serializing objects: that was
 * most of the worker's per-row cost. The rendering is the live path's own (the capture
 * migration's SQL functions), and each page's first event is checked against the full zod
 * contract, every event against its data-dependent fields.
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

interface ResourceDefinition {
  eventType: SyncEvent['eventType'];
  /** The event's full contract: every page's first event is checked against it. */
  schema: z.ZodType<SyncEvent>;
  /**
   * The contract's fields whose validity depends on the row's data rather than on the rendering
   * or the column types (e.g. a name that must not be empty): checked on every event, from the
   * columns of the same names.
   */
  rowSchema?: z.ZodObject;
  table: 'credit_allocations' | 'entities' | 'organization_memberships';
  /** The column `sinceDate` filters on. */
  dateColumn: string;
  /** Conditions beyond the tenant: which rows the application receives. */
  where(scope: ResourceScope): RawBuilder<unknown>;
  render(context: EventContext): RawBuilder<string>;
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
  where: (scope) => sql`target_application = ${scope.appCode} AND is_active`,
  render: (context) =>
    sql<string>`hs_credit_event(credit_allocations, 'credit.allocated', ${runParam(context)}, NULL, ${tenantParam(context)})`,
};

const organizations: ResourceDefinition = {
  eventType: HISTORICAL_EVENT_TYPE.organizations,
  schema: OrgCreatedEvent,
  rowSchema: OrgCreatedEvent.pick({ code: true, name: true }),
  table: 'entities',
  dateColumn: 'created_at',
  where: () => sql`entity_type = 'organization'`,
  render: (context) =>
    sql<string>`hs_organization_event(entities, 'org.created', ${context.appCode}, ${runParam(context)}, ${tenantParam(context)})`,
};

const memberships: ResourceDefinition = {
  eventType: HISTORICAL_EVENT_TYPE.memberships,
  schema: OrgAssignmentCreatedEvent,
  table: 'organization_memberships',
  dateColumn: 'created_at',
  where: () => sql`is_active`,
  render: (context) =>
    sql<string>`hs_membership_event(organization_memberships, 'org.assignment.created', ${context.appCode}, ${runParam(context)}, ${tenantParam(context)})`,
};

export const RESOURCE_DEFINITIONS: Record<Resource, ResourceDefinition> = {
  credits,
  organizations,
  memberships,
};

/** The WHERE clause shared by counting and paging: tenant, resource rows, date, partition. */
function scopeWhere(definition: ResourceDefinition, scope: ResourceScope) {
  const conditions = [sql`tenant_id = ${scope.tenantId}`, definition.where(scope)];
  if (scope.sinceDate)
    conditions.push(sql`${sql.ref(definition.dateColumn)} >= ${scope.sinceDate}::timestamptz`);
  if (scope.range?.lower) conditions.push(sql`id >= ${scope.range.lower}::uuid`);
  if (scope.range?.upper) conditions.push(sql`id < ${scope.range.upper}::uuid`);
  return sql.join(conditions, sql` AND `);
}

export async function countRows(db: Db, resource: Resource, scope: ResourceScope): Promise<number> {
  const definition = RESOURCE_DEFINITIONS[resource];
  const { rows } = await sql<{ n: number }>`
    SELECT count(*)::int AS n FROM ${sql.table(definition.table)} WHERE ${scopeWhere(definition, scope)}
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
  const definition = RESOURCE_DEFINITIONS[resource];
  const checked = Object.keys(definition.rowSchema?.shape ?? {}).map((column) => sql.ref(column));
  const after = request.after ? sql` AND id > ${request.after}::uuid` : sql``;
  const { rows } = await sql<RenderedRow>`
    SELECT id, ${definition.render(context)} AS event${checked.length ? sql`, ${sql.join(checked)}` : sql``}
    FROM ${sql.table(definition.table)}
    WHERE ${scopeWhere(definition, request)}${after}
    ORDER BY id
    LIMIT ${request.limit}
  `.execute(db);
  return rows;
}

/** A page rendered as Redis commands: what the worker publishes without touching each event. */
export interface RenderedPage {
  rows: number;
  /** The page's last id: its checkpoint once published. */
  lastId: string;
  /** The page's first row and its event, checked against the full contract. */
  firstId: string;
  firstEvent: string | null;
  /** The first row Postgres could not render (a NULL event), if any: the page must not go out. */
  unrenderedId: string | null;
  /** Each row's id and data-dependent fields (`rowSchema`), for resources that have them. */
  checked: Array<{ id: string } & Record<string, unknown>>;
  /** One `XADD` per row, in id order, in Redis's protocol: `xaddPrefix` + length + event. */
  commands: string;
  /** The commands' length in bytes as Postgres counted it, for the worker to check its own. */
  bytes: number;
}

/**
 * The next page after `request.after`, rendered by Postgres as the page's XADD commands in one
 * text value (`prefix` is resp.ts's xaddPrefix for the stream). The worker receives one string
 * per page instead of one per row, and writes it to Redis as it is: rows leave Postgres and
 * enter Redis without becoming JavaScript strings one by one (docs/PERFORMANCE.md). Empty: null.
 */
export async function renderPageCommands(
  db: Db,
  resource: Resource,
  request: PageRequest,
  context: EventContext,
  prefix: string,
): Promise<RenderedPage | null> {
  const definition = RESOURCE_DEFINITIONS[resource];
  const columns = Object.keys(definition.rowSchema?.shape ?? {});
  const after = request.after ? sql` AND id > ${request.after}::uuid` : sql``;
  const checked = columns.length
    ? sql`json_agg(json_build_object('id', id, ${sql.join(
        columns.map((c) => sql`${sql.lit(c)}, ${sql.ref(c)}`),
      )}))`
    : sql`'[]'::json`;
  const commands = sql`string_agg(${prefix}::text || octet_length(event) || E'\r\n' || event || E'\r\n', '')`;
  // One pass over the page, no copy of it: the aggregates read the subquery's rows in the order
  // it returns them (id order; no join or grouping can reorder them), so the events go out in id
  // order and the first and last ids are the page's. A NULL event drops out of the commands, and
  // its row is named instead.
  const { rows } = await sql<{
    rows: number;
    first_id: string;
    last_id: string | null;
    unrendered_id: string | null;
    checked: RenderedPage['checked'];
    commands: string | null;
    bytes: number | null;
  }>`
    SELECT
      count(*)::int AS rows,
      (array_agg(id))[1] AS first_id,
      (array_agg(id))[count(*)::int] AS last_id,
      (array_agg(id) FILTER (WHERE event IS NULL))[1] AS unrendered_id,
      ${checked} AS checked,
      ${commands} AS commands,
      octet_length(${commands}) AS bytes
    FROM (
      SELECT id, ${definition.render(context)} AS event${columns.length ? sql`, ${sql.join(columns.map((c) => sql.ref(c)))}` : sql``}
      FROM ${sql.table(definition.table)}
      WHERE ${scopeWhere(definition, request)}${after}
      ORDER BY id
      LIMIT ${request.limit}
    ) page
  `.execute(db);
  const row = rows[0];
  if (!row?.rows || !row.last_id) return null;
  return {
    rows: row.rows,
    lastId: row.last_id,
    firstId: row.first_id,
    firstEvent: row.unrendered_id === row.first_id ? null : firstEvent(row.commands ?? '', prefix),
    unrenderedId: row.unrendered_id,
    checked: row.checked ?? [],
    commands: row.commands ?? '',
    bytes: row.bytes ?? 0,
  };
}

/**
 * The first command's event: after the prefix, its length and CRLF, up to the next CRLF (an
 * event is JSON, whose strings escape CR and LF, so its first CRLF is its end).
 */
function firstEvent(commands: string, prefix: string): string | null {
  const start = commands.indexOf('\r\n', prefix.length) + 2;
  const end = commands.indexOf('\r\n', start);
  return start > 1 && end > start ? commands.slice(start, end) : null;
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
