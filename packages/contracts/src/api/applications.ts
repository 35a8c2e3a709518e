/** The spec's routes on one application of a tenant: toggle, sync-historical, sync-status. */
import { z } from 'zod';
import { BUILT_IN_RESOURCES, isResource, type Resource } from '../resources.js';
import { ApplicationRef, IsoInstant, SinceDate, Uuid, wholeNumber } from './fields.js';
import { OutboxBacklog } from './outbox.js';
import { OrgParams } from './params.js';
import { RunStatus, RunView } from './runs.js';

export const ToggleParams = OrgParams.extend({ appId: ApplicationRef });
export const AppCodeParams = OrgParams.extend({ appCode: ApplicationRef });

export const ToggleBody = z.strictObject({
  isEnabled: z.boolean(),
  skipHistoricalSync: z.boolean().default(false),
});

export const ToggleResponse = z.object({
  tenantId: Uuid,
  application: z.object({ id: Uuid, code: z.string() }),
  isEnabled: z.boolean(),
  /** Whether this request changed the enablement. */
  changed: z.boolean(),
  enabledAt: IsoInstant.nullable(),
  disabledAt: IsoInstant.nullable(),
  /** The backfill run this enable started (or found under way); null when none. */
  runId: Uuid.nullable(),
  statusUrl: z.string().nullable(),
});
export type ToggleResponse = z.infer<typeof ToggleResponse>;

/**
 * The spec's request flags, one per built-in resource (resources.ts), each true unless set false.
 * A registered resource has none: the spec's body is strict, and an enable syncs every resource.
 */
type RequestFlag = (typeof BUILT_IN_RESOURCES)[number]['requestFlag'];
const requestFlags = Object.fromEntries(
  BUILT_IN_RESOURCES.map((entry) => [entry.requestFlag, z.boolean().default(true)]),
) as Record<RequestFlag, z.ZodDefault<z.ZodBoolean>>;
const flagNames: RequestFlag[] = BUILT_IN_RESOURCES.map((entry) => entry.requestFlag);

export const SyncBody = z
  .strictObject({
    ...requestFlags,
    dryRun: z.boolean().default(false),
    sinceDate: SinceDate.nullable().default(null),
    /** Rows per page for this run (default BACKFILL_PAGE_SIZE). */
    pageSize: wholeNumber(1, 10_000).optional(),
    /** Cap on this run's publish rate (default BACKFILL_MAX_EVENTS_PER_SECOND). */
    maxEventsPerSecond: wholeNumber(1, 10_000_000).optional(),
    /** Id-range partitions per resource, each its own job (default BACKFILL_PARTITIONS). */
    partitions: wholeNumber(1, 256).optional(),
  })
  .refine((body) => flagNames.some((flag) => body[flag]), {
    error: `at least one of ${flagNames.join(', ')} must be true`,
    path: [flagNames[0] as string],
  });
/** The resources a sync body selects, in the registry's order. */
export const selectedResources = (body: Record<RequestFlag, boolean>): Resource[] =>
  BUILT_IN_RESOURCES.filter((entry) => body[entry.requestFlag]).map((entry) => entry.name);
export type SyncBody = z.input<typeof SyncBody>;

/** `dryRun: true`: what a sync would publish, per resource. */
export const DryRunResponse = z.object({
  dryRun: z.literal(true),
  appCode: z.string(),
  sinceDate: z.string().nullable(),
  // Keyed by resource, registered ones included (resources.ts).
  counts: z.partialRecord(z.string().refine(isResource), z.number().int()),
  total: z.number().int(),
});
export type DryRunResponse = z.infer<typeof DryRunResponse>;

/** 202 when this request created the run, 200 when one was already under way. */
export const SyncStartedResponse = z.object({
  runId: Uuid,
  status: RunStatus,
  created: z.boolean(),
  statusUrl: z.string(),
});
export type SyncStartedResponse = z.infer<typeof SyncStartedResponse>;

export const SyncStatusResponse = z.object({
  tenantId: Uuid,
  appCode: z.string(),
  isEnabled: z.boolean(),
  enabledAt: IsoInstant.nullable(),
  counts: z.object({
    activeCreditAllocations: z.number().int(),
    organizations: z.number().int(),
    /** Every membership, ended ones included (the spec's total). */
    memberships: z.number().int(),
    /** The memberships a backfill publishes. */
    activeMemberships: z.number().int(),
  }),
  syncNeeded: z.boolean(),
  latestRun: RunView.nullable(),
  /** Live events of this tenant not yet relayed to the streams. */
  outboxBacklog: OutboxBacklog,
});
export type SyncStatusResponse = z.infer<typeof SyncStatusResponse>;
