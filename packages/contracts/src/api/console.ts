/**
 * The operator console's API: request and response schemas shared by the API (which validates
 * and serializes with them), the CLI and the web console (which read their inferred types).
 */
import { z } from 'zod';
import { RESOURCES } from '../resources.js';

export const RUN_STATUSES = [
  'queued',
  'running',
  'paused',
  'completed',
  'failed',
  'cancelled',
] as const;
export const FINAL_RUN_STATUSES = ['completed', 'failed', 'cancelled'] as const;
export const RUN_ACTIONS = ['pause', 'resume', 'cancel', 'retry'] as const;

/** Longest `q` a tenant search takes: a longer one is a 400, not a slow query. */
export const MAX_TENANT_QUERY_LENGTH = 100;
/** Longest `cursor` accepted (real ones are well under it). */
export const MAX_CURSOR_LENGTH = 200;

const uuid = z.guid({ error: 'must be a UUID' });
const appCode = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9_-]+$/, 'must be an application code');
const cursor = z.string().min(1).max(MAX_CURSOR_LENGTH);
/** A query-string number: "25" → 25, refused unless a whole number in [min, max]. */
const limit = (max: number, fallback: number) =>
  z.coerce.number().int().min(1).max(max).default(fallback);

export const ErrorBody = z.object({
  error: z.string(),
  message: z.string(),
  field: z.string().optional(),
});

export const RunStatusSchema = z.enum(RUN_STATUSES);
export const RunActionSchema = z.enum(RUN_ACTIONS);

export const ResourceProgressSchema = z.object({
  /** The resource's own state; `paused` while its run is paused. */
  status: z.string(),
  published: z.number().int(),
  total: z.number().int().nullable(),
  percent: z.number().int().nullable(),
  lastError: z.string().nullable(),
});

export const RunViewSchema = z.object({
  runId: z.string(),
  tenantId: z.string(),
  appCode: z.string(),
  status: RunStatusSchema,
  trigger: z.string(),
  sinceDate: z.string().nullable(),
  pageSize: z.number().int(),
  maxEventsPerSecond: z.number().int().nullable(),
  partitions: z.number().int(),
  createdAt: z.string(),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
  lastError: z.string().nullable(),
  published: z.number().int(),
  total: z.number().int().nullable(),
  percent: z.number().int().nullable(),
  resources: z.partialRecord(z.enum(RESOURCES), ResourceProgressSchema),
  /** Recent publish rate (events/s) while the run is running; null otherwise or not yet known. */
  eventsPerSecond: z.number().nullable(),
  /** Seconds left at that rate; null when the rate or the total is not known. */
  etaSeconds: z.number().int().nullable(),
  allowedActions: z.array(RunActionSchema),
});

export const RunSummarySchema = z.object({
  runId: z.string(),
  tenantId: z.string(),
  tenantName: z.string(),
  appCode: z.string(),
  status: RunStatusSchema,
  trigger: z.string(),
  dryRun: z.boolean().optional(),
  createdAt: z.string(),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
  published: z.number().int(),
  total: z.number().int().nullable(),
  percent: z.number().int().nullable(),
  lastError: z.string().nullable(),
});

export const ApplicationStateSchema = z.object({
  id: z.string(),
  code: z.string(),
  name: z.string(),
  isEnabled: z.boolean(),
  enabledAt: z.string().nullable(),
  syncNeeded: z.boolean(),
  latestRun: RunSummarySchema.nullable(),
});

export const TenantSummarySchema = z.object({
  tenantId: z.string(),
  name: z.string(),
  applications: z.array(ApplicationStateSchema),
});

// Query strings ignore parameters they do not name (a cache-buster, a tracking tag): only the
// named ones are validated.

// GET /admin/tenants
export const TenantListQuery = z.object({
  q: z.string().max(MAX_TENANT_QUERY_LENGTH).optional(),
  cursor: cursor.optional(),
  limit: limit(100, 50),
});
export const TenantListResponse = z.object({
  tenants: z.array(TenantSummarySchema),
  nextCursor: z.string().nullable(),
});

// GET /admin/organizations/:orgId/applications
export const TenantParams = z.object({ orgId: uuid });
export const TenantApplicationsResponse = z.object({
  tenantId: z.string(),
  name: z.string(),
  applications: z.array(ApplicationStateSchema),
});

// GET /admin/sync-runs
export const RunListQuery = z.object({
  tenantId: uuid.optional(),
  appCode: appCode.optional(),
  status: RunStatusSchema.optional(),
  cursor: cursor.optional(),
  limit: limit(100, 25),
});
export const RunListResponse = z.object({
  runs: z.array(RunSummarySchema),
  nextCursor: z.string().nullable(),
});

// /admin/organizations/:orgId/sync-runs/:runId[/retry|/live]
export const RunRouteParams = z.object({ orgId: uuid, runId: uuid });

// GET /admin/system
export const SystemResponse = z.object({
  eventsPerSecond: z.array(z.object({ at: z.string(), events: z.number() })),
  outbox: z.object({ backlog: z.number().int(), oldestAgeSeconds: z.number().nullable() }),
  consumerGroups: z.array(
    z.object({
      stream: z.string(),
      group: z.string(),
      lag: z.number().int().nullable(),
      pending: z.number().int(),
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

export type RunStatus = z.infer<typeof RunStatusSchema>;
export type RunAction = z.infer<typeof RunActionSchema>;
export type ResourceProgress = z.infer<typeof ResourceProgressSchema>;
export type RunViewBody = z.infer<typeof RunViewSchema>;
export type RunSummary = z.infer<typeof RunSummarySchema>;
export type ApplicationState = z.infer<typeof ApplicationStateSchema>;
export type TenantSummary = z.infer<typeof TenantSummarySchema>;
export type TenantListBody = z.infer<typeof TenantListResponse>;
export type TenantApplicationsBody = z.infer<typeof TenantApplicationsResponse>;
export type RunListBody = z.infer<typeof RunListResponse>;
export type SystemBody = z.infer<typeof SystemResponse>;
export type ErrorBodyShape = z.infer<typeof ErrorBody>;
