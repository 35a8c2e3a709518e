/**
 * The operator console's routes: tenants and their applications, run history, the system's
 * throughput. The API validates and serializes with these; the CLI and the web console read their
 * inferred types. A run itself is `RunView` (runs.ts).
 */
import { z } from 'zod';
import { ApplicationRef, storableText, Uuid } from './fields.js';
import { OrgParams } from './params.js';
import { RunStatus, RunTrigger } from './runs.js';

/** Longest `q` a tenant search takes: a longer one is a 400, not a slow query. */
export const MAX_TENANT_QUERY_LENGTH = 100;
/** Longest `cursor` accepted (real ones are well under it). */
export const MAX_CURSOR_LENGTH = 200;

const cursor = z.string().min(1).max(MAX_CURSOR_LENGTH);
/** A query-string number: "25" → 25, refused unless a whole number in [min, max]. */
const limit = (max: number, fallback: number) =>
  z.coerce
    .number({ error: 'must be a whole number' })
    .int('must be a whole number')
    .min(1, 'must be at least 1')
    .max(max, `must be at most ${max}`)
    .default(fallback);

/** One run in a list: its tenant, application and progress, without per-resource detail. */
export const RunSummary = z.object({
  runId: Uuid,
  tenantId: Uuid,
  tenantName: z.string(),
  appCode: z.string(),
  status: RunStatus,
  trigger: RunTrigger,
  dryRun: z.boolean().optional(),
  createdAt: z.string(),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
  published: z.number().int(),
  total: z.number().int().nullable(),
  percent: z.number().int().nullable(),
  lastError: z.string().nullable(),
});
export type RunSummary = z.infer<typeof RunSummary>;

export const ApplicationState = z.object({
  id: z.string(),
  code: z.string(),
  name: z.string(),
  isEnabled: z.boolean(),
  enabledAt: z.string().nullable(),
  syncNeeded: z.boolean(),
  latestRun: RunSummary.nullable(),
});
export type ApplicationState = z.infer<typeof ApplicationState>;

export const TenantSummary = z.object({
  tenantId: Uuid,
  name: z.string(),
  applications: z.array(ApplicationState),
});
export type TenantSummary = z.infer<typeof TenantSummary>;

// Query strings ignore parameters they do not name (a cache-buster, a tracking tag): only the
// named ones are validated.

/** GET /admin/tenants */
export const TenantListQuery = z.object({
  q: z.string().max(MAX_TENANT_QUERY_LENGTH).optional(),
  cursor: cursor.optional(),
  limit: limit(100, 50),
});
export const TenantListResponse = z.object({
  tenants: z.array(TenantSummary),
  nextCursor: z.string().nullable(),
});
export type TenantListResponse = z.infer<typeof TenantListResponse>;

/** GET /admin/organizations/:orgId/applications */
export const TenantApplicationsParams = OrgParams;
export const TenantApplicationsResponse = TenantSummary;
export type TenantApplicationsResponse = z.infer<typeof TenantApplicationsResponse>;

/** GET /admin/sync-runs */
export const RunListQuery = z.object({
  tenantId: Uuid.optional(),
  appCode: ApplicationRef.optional(),
  status: RunStatus.optional(),
  cursor: cursor.optional(),
  limit: limit(100, 25),
});
export const RunListResponse = z.object({
  runs: z.array(RunSummary),
  nextCursor: z.string().nullable(),
});
export type RunListResponse = z.infer<typeof RunListResponse>;

/** GET /admin/system */
export const SystemResponse = z.object({
  eventsPerSecond: z.array(z.object({ at: z.string(), events: z.number() })),
  outbox: z.object({ backlog: z.number().int(), oldestAgeSeconds: z.number().nullable() }),
  consumerGroups: z.array(
    z.object({
      stream: z.string(),
      group: z.string(),
      lag: z.number().int().nullable(),
      pending: z.number().int(),
      /** Since any consumer of the group last read; null when it has none. */
      idleSeconds: z.number().nullable(),
      oldestUnackedAgeSeconds: z.number().nullable(),
      /** Entries to read and no read for STREAM_GROUP_STALLED_MS: it holds them in Redis. */
      stalled: z.boolean(),
    }),
  ),
  /** Redis's memory against its limit, and the streams' retention. */
  redis: z.object({
    usedBytes: z.number().int(),
    /** 0 when no maxmemory is set. */
    maxBytes: z.number().int(),
    /** Backfills wait above this share of maxBytes; null when they never do. */
    backfillWaitsAbove: z.number().nullable(),
    /** When the streams were last trimmed, and how many entries went; null before the first. */
    lastTrim: z.object({ at: z.string(), removed: z.number().int() }).nullable(),
  }),
  streams: z.array(
    z.object({
      stream: z.string(),
      length: z.number().int(),
      memoryBytes: z.number().int(),
      oldestUnackedAgeSeconds: z.number().nullable(),
      /** Why it holds memory no consumer is reading, for a person to act on. */
      warning: z.string().nullable(),
    }),
  ),
  workers: z.array(
    z.object({
      id: z.string(),
      roles: z.array(z.string()),
      startedAt: z.string(),
      lastSeenAt: z.string(),
    }),
  ),
});
export type SystemResponse = z.infer<typeof SystemResponse>;

/** POST /admin/streams/detach-group: a consumer group of one of the system's streams. */
export const DetachGroupRequest = z.strictObject({
  stream: storableText(512),
  group: storableText(256),
});
export const DetachGroupResponse = z.object({
  stream: z.string(),
  group: z.string(),
  /** What the group had not acknowledged or read: now trimmed like acknowledged entries. */
  pending: z.number().int(),
  lag: z.number().int().nullable(),
});
export type DetachGroupResponse = z.infer<typeof DetachGroupResponse>;
