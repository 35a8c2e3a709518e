/** A backfill run as the API shows it: `GET .../sync-runs/:runId`, its controls, `latestRun`. */
import { z } from 'zod';
import { RESOURCES } from '../resources.js';
import { IsoInstant, Uuid } from './fields.js';
import { OrgParams } from './params.js';

export const RUN_STATUSES = [
  'queued',
  'running',
  'paused',
  'completed',
  'failed',
  'cancelled',
] as const;
export const RunStatus = z.enum(RUN_STATUSES);
export type RunStatus = z.infer<typeof RunStatus>;
/** A run in one of these never changes again. */
export const FINAL_RUN_STATUSES = [
  'completed',
  'failed',
  'cancelled',
] as const satisfies readonly RunStatus[];

export const RunParams = OrgParams.extend({ runId: Uuid });
export const RUN_ACTIONS = ['pause', 'resume', 'cancel'] as const;
export type RunAction = (typeof RUN_ACTIONS)[number];

export const ResourceProgress = z.object({
  status: z.enum(['pending', 'running', 'completed', 'failed', 'cancelled']),
  published: z.number().int(),
  /** Rows the resource will publish; null until counted. */
  total: z.number().int().nullable(),
  percent: z.number().nullable(),
  lastError: z.string().nullable(),
});
export type ResourceProgress = z.infer<typeof ResourceProgress>;

export const RunView = z.object({
  runId: Uuid,
  status: RunStatus,
  trigger: z.enum(['enable', 'manual']),
  sinceDate: z.string().nullable(),
  pageSize: z.number().int(),
  maxEventsPerSecond: z.number().nullable(),
  partitions: z.number().int(),
  createdAt: IsoInstant,
  startedAt: IsoInstant.nullable(),
  finishedAt: IsoInstant.nullable(),
  lastError: z.string().nullable(),
  published: z.number().int(),
  total: z.number().int().nullable(),
  percent: z.number().nullable(),
  /** Only the resources the run syncs. */
  resources: z.partialRecord(z.enum(RESOURCES), ResourceProgress),
});
export type RunView = z.infer<typeof RunView>;

/** One run with its tenant and application: the run routes' answer. */
export const RunResponse = RunView.extend({ tenantId: Uuid, appCode: z.string() });
export type RunResponse = z.infer<typeof RunResponse>;
