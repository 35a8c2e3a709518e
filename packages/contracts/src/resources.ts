/**
 * The resources a backfill syncs, as data: one entry per resource says everything the contracts
 * know of it (its name in runs and jobs, its aggregate in the outbox and in eventIds, the spec's
 * request flag, its queue, its events and where they go, who receives them). Every other
 * per-resource fact of the contracts is read from here; the SQL side (table, columns, rendering)
 * is the backfill's registry (packages/backfill/src/resources.ts). docs/ADDING-A-RESOURCE.md.
 */
import type { EventType } from './events/index.js';

export interface ResourceEntry {
  /** Its name in runs, jobs, checkpoints, metrics and the API's per-resource fields. */
  name: string;
  /** Its kind of row in the outbox and in eventIds (`credit:<id>:v3`). */
  aggregate: string;
  /** What a person calls its rows (status lines, the console). */
  label: string;
  /** The spec's `sync-historical` body flag that selects it. */
  requestFlag: string;
  /** Its BullMQ queue: one per resource, so a slow one never holds the others' workers. */
  queue: string;
  events: {
    /** What a backfill publishes for a row. */
    historical: EventType;
    /** What says a row is no longer active (a verification's repair publishes it). */
    tombstone: EventType;
    /** Every event of the resource, live ones included. */
    all: readonly EventType[];
  };
  /**
   * Where its events go: one stream shared by every application (consumers tell theirs apart by
   * `metadata.targetApplication`), or, per application, a stream per event type
   * (`<app>:sync:organization:<kind>`: docs/decisions/0007-stream-names.md).
   */
  streams: { shared: string } | { perApplication: Partial<Record<EventType, string>> };
  /**
   * Who receives a live change: only the application the row names (its
   * `metadata.targetApplication`), or every application enabled for the tenant.
   */
  audience: 'own-application' | 'every-enabled-application';
}

export const RESOURCE_REGISTRY = [
  {
    name: 'credits',
    aggregate: 'credit',
    label: 'credit allocations',
    requestFlag: 'syncCredits',
    queue: 'backfill-credits',
    events: {
      historical: 'credit.allocated',
      tombstone: 'credit.deactivated',
      all: ['credit.allocated', 'credit.updated', 'credit.deactivated'],
    },
    streams: { shared: 'credit-events' },
    audience: 'own-application',
  },
  {
    name: 'organizations',
    aggregate: 'organization',
    label: 'organizations',
    requestFlag: 'syncOrganizations',
    queue: 'backfill-organizations',
    events: {
      historical: 'org.created',
      tombstone: 'org.deleted',
      all: ['org.created', 'org.updated', 'org.deleted'],
    },
    streams: {
      perApplication: {
        'org.created': 'org_created',
        'org.updated': 'org_updated',
        'org.deleted': 'org_deleted',
      },
    },
    audience: 'every-enabled-application',
  },
  {
    name: 'memberships',
    aggregate: 'membership',
    label: 'memberships',
    requestFlag: 'syncAssignments',
    queue: 'backfill-memberships',
    events: {
      historical: 'org.assignment.created',
      tombstone: 'org.assignment.removed',
      all: ['org.assignment.created', 'org.assignment.removed'],
    },
    streams: {
      perApplication: {
        'org.assignment.created': 'assignment_created',
        'org.assignment.removed': 'assignment_removed',
      },
    },
    audience: 'every-enabled-application',
  },
] as const satisfies readonly ResourceEntry[];

type Entry = (typeof RESOURCE_REGISTRY)[number];
export type Resource = Entry['name'];
type EntryOf<R extends Resource> = Extract<Entry, { name: R }>;

/** The resources' names, in the registry's order (credits, organizations, memberships). */
export const RESOURCES = RESOURCE_REGISTRY.map((entry) => entry.name) as unknown as readonly [
  Resource,
  ...Resource[],
];

const byName = new Map<string, Entry>(RESOURCE_REGISTRY.map((entry) => [entry.name, entry]));

/** The registry's entry of a resource. */
export function resourceEntry<R extends Resource>(resource: R): EntryOf<R> {
  return byName.get(resource) as EntryOf<R>;
}

/** A map from each resource to one of its entry's facts. */
function perResource<T extends Record<Resource, unknown>>(pick: (entry: Entry) => unknown): T {
  return Object.fromEntries(RESOURCE_REGISTRY.map((entry) => [entry.name, pick(entry)])) as T;
}

/** The event type the backfill publishes for each resource's rows (the spec's three). */
export const HISTORICAL_EVENT_TYPE = perResource<{
  [R in Resource]: EntryOf<R>['events']['historical'];
}>((entry) => entry.events.historical);

/**
 * The event that tells an application a row of the resource is no longer active: what a
 * verification's repair publishes for a row the application holds that the source has inactive.
 */
export const TOMBSTONE_EVENT_TYPE = perResource<{
  [R in Resource]: EntryOf<R>['events']['tombstone'];
}>((entry) => entry.events.tombstone);

/** The resource whose row an outbox aggregate is (`credit` → credits), if any. */
export function resourceOfAggregate(aggregate: string): Resource | undefined {
  return RESOURCE_REGISTRY.find((entry) => entry.aggregate === aggregate)?.name;
}

/** The resource an event type belongs to. */
export function resourceOfEvent(eventType: EventType): Resource {
  const entry = RESOURCE_REGISTRY.find((e) =>
    (e.events.all as readonly string[]).includes(eventType),
  );
  if (!entry) throw new Error(`no resource has event type ${eventType}`);
  return entry.name;
}

/** What an event is about: the row kind behind `eventId` (`credit`, `organization`, …). */
export type Aggregate = Entry['aggregate'];
export function aggregateOf(eventType: EventType): Aggregate {
  return resourceEntry(resourceOfEvent(eventType)).aggregate;
}

/**
 * Who receives a live change of an outbox aggregate (ResourceEntry['audience']); an unknown
 * aggregate goes to every enabled application.
 */
export function audienceOf(aggregate: string): ResourceEntry['audience'] {
  return (
    RESOURCE_REGISTRY.find((e) => e.aggregate === aggregate)?.audience ??
    'every-enabled-application'
  );
}
