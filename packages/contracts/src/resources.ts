/**
 * The resources a backfill syncs, as data: one entry per resource says everything the contracts
 * know of it (its name in runs and jobs, its aggregate in the outbox and in eventIds, the spec's
 * request flag, its queue, its events and where they go, who receives them). Every other
 * per-resource fact of the contracts is read from here; the SQL side (table, columns, rendering)
 * is the backfill's registry (packages/backfill/src/resources.ts). docs/ADDING-A-RESOURCE.md.
 *
 * No zod here: the console imports it on its own path (`@historical-sync/contracts/resources`).
 *
 * The three built-in resources are typed (`Resource`); a platform adds its own with
 * `registerResource` at start, before anything reads the registry's lists, and its name then
 * travels as a `Resource` through the same code.
 */
import type { EventType } from './events/index.js';

/** A built-in event type, or a registered resource's. */
export type EventName = EventType | (string & {});

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
    historical: EventName;
    /** What says a row is no longer active (a verification's repair publishes it). */
    tombstone: EventName;
    /** Every event of the resource, live ones included. */
    all: readonly EventName[];
  };
  /**
   * Where its events go: one stream shared by every application (consumers tell theirs apart by
   * `metadata.targetApplication`), or, per application, a stream per event type
   * (`<app>:sync:organization:<kind>`: docs/decisions/0007-stream-names.md).
   */
  streams: { shared: string } | { perApplication: Partial<Record<EventName, string>> };
  /**
   * Who receives a live change: only the application the row names (its
   * `metadata.targetApplication`), or every application enabled for the tenant.
   */
  audience: 'own-application' | 'every-enabled-application';
  /**
   * A registered resource's event contracts (zod schemas), by event type: the built-ins' are the
   * contracts' own (`SyncEvent`).
   */
  eventSchemas?: Readonly<Record<string, EventSchema>>;
}

/** What the relay and the backfill need of an event's contract: a zod schema's safeParse. */
export interface EventSchema {
  safeParse(value: unknown): { success: boolean; error?: unknown };
}

/** The platform's three resources. */
export const BUILT_IN_RESOURCES = [
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

type BuiltIn = (typeof BUILT_IN_RESOURCES)[number];
/** A resource's name: the built-ins', or one `registerResource` added (typed as one of them). */
export type Resource = BuiltIn['name'];
type EntryOf<R extends Resource> = Extract<BuiltIn, { name: R }>;

/** Every resource, in order: the built-ins, then the registered ones. */
export const RESOURCE_REGISTRY: readonly ResourceEntry[] = [...BUILT_IN_RESOURCES];

/**
 * The resources' names, in the registry's order (credits, organizations, memberships, then any
 * registered). The same array for the process's life: registration appends to it.
 */
export const RESOURCES = BUILT_IN_RESOURCES.map((entry) => entry.name) as unknown as readonly [
  Resource,
  ...Resource[],
];

const byName = new Map<string, ResourceEntry>(
  BUILT_IN_RESOURCES.map((entry) => [entry.name, entry]),
);

/** Whether a name is a resource's (built in or registered). */
export const isResource = (name: string): name is Resource => byName.has(name);

/** The registry's entry of a resource. */
export function resourceEntry<R extends Resource>(resource: R): EntryOf<R> {
  const entry = byName.get(resource);
  if (!entry) throw new Error(`no resource is named ${resource}`);
  return entry as EntryOf<R>;
}

/** A map from each resource to one of its entry's facts, kept up to date by registration. */
function perResource<T extends Record<Resource, unknown>>(pick: (entry: ResourceEntry) => unknown) {
  const map = Object.fromEntries(BUILT_IN_RESOURCES.map((entry) => [entry.name, pick(entry)])) as T;
  onRegister.push((entry) => {
    (map as Record<string, unknown>)[entry.name] = pick(entry);
  });
  return map;
}
const onRegister: Array<(entry: ResourceEntry) => void> = [];
let generation = 0;

/** How many resources were registered since start: lets a derived table know it is stale. */
export const registryGeneration = () => generation;

/**
 * Adds a resource to the registry (docs/ADDING-A-RESOURCE.md). Call it at start, before building
 * the API or the workers: schemas and queues are made from the registry when they are built. Its
 * name, aggregate, queue and event types must be new.
 */
export function registerResource(entry: ResourceEntry): Resource {
  const taken = RESOURCE_REGISTRY.find(
    (e) =>
      e.name === entry.name ||
      e.aggregate === entry.aggregate ||
      e.queue === entry.queue ||
      e.events.all.some((type) => (entry.events.all as readonly string[]).includes(type)),
  );
  if (taken) throw new Error(`resource ${entry.name} overlaps ${taken.name}`);
  (RESOURCE_REGISTRY as ResourceEntry[]).push(entry);
  (RESOURCES as unknown as string[]).push(entry.name);
  byName.set(entry.name, entry);
  for (const update of onRegister) update(entry);
  generation += 1;
  return entry.name as Resource;
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

/** Each resource's queue. */
export const RESOURCE_QUEUES = perResource<{ [R in Resource]: EntryOf<R>['queue'] }>(
  (entry) => entry.queue,
);

/** The resource an event type belongs to. */
export function resourceOfEvent(eventType: EventType | (string & {})): Resource {
  const entry = RESOURCE_REGISTRY.find((e) =>
    (e.events.all as readonly string[]).includes(eventType),
  );
  if (!entry) throw new Error(`no resource has event type ${eventType}`);
  return entry.name as Resource;
}

/** What an event is about: the row kind behind `eventId` (`credit`, `organization`, …). */
export type Aggregate = BuiltIn['aggregate'];
export function aggregateOf(eventType: EventType): Aggregate {
  return resourceEntry(resourceOfEvent(eventType)).aggregate as Aggregate;
}

/** A registered resource's contract for an event type; undefined for the built-ins' (SyncEvent). */
export function registeredEventSchema(eventType: string): EventSchema | undefined {
  for (const entry of RESOURCE_REGISTRY) {
    const schema = entry.eventSchemas?.[eventType];
    if (schema) return schema;
  }
  return undefined;
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

/** What a person calls a resource's rows, as a heading: `Credit allocations`; an unknown one by name. */
export function resourceLabel(name: string): string {
  const label = byName.get(name)?.label ?? name;
  return label.charAt(0).toUpperCase() + label.slice(1);
}
