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
/**
 * A run in one of these has no job working on it: completed and cancelled never change again, a
 * failed run only by a retry. A live stream of a run ends once it reaches one.
 */
export const ENDED_RUN_STATUSES = [
  'completed',
  'failed',
  'cancelled',
] as const satisfies readonly RunStatus[];

/** What started a run: an enable, a manual sync, or a verification's repair (docs/VERIFY.md). */
export const RUN_TRIGGERS = ['enable', 'manual', 'verify'] as const;
export const RunTrigger = z.enum(RUN_TRIGGERS);
export type RunTrigger = z.infer<typeof RunTrigger>;

export const RunParams = OrgParams.extend({ runId: Uuid });
/** The controls a person sends to a run: `POST .../sync-runs/:runId/<control>`. */
export const RUN_CONTROLS = ['pause', 'resume', 'cancel'] as const;
export type RunControl = (typeof RUN_CONTROLS)[number];
/** What a person may do with a run: its controls, and a retry of a failed run. */
export const RUN_ACTIONS = [...RUN_CONTROLS, 'retry'] as const;
export const RunAction = z.enum(RUN_ACTIONS);
export type RunAction = z.infer<typeof RunAction>;

export const ResourceProgress = z.object({
  /** The resource's own status; `paused` while its run is paused and it has work left. */
  status: z.enum(['pending', 'running', 'paused', 'completed', 'failed', 'cancelled']),
  published: z.number().int(),
  /** Rows the resource will publish; null until counted. */
  total: z.number().int().nullable(),
  percent: z.number().nullable(),
  lastError: z.string().nullable(),
  /** "throttled by source load: <why>" while source protection slows or pauses its pages. */
  throttled: z.string().nullable(),
});
export type ResourceProgress = z.infer<typeof ResourceProgress>;

export const RunView = z.object({
  runId: Uuid,
  tenantId: Uuid,
  appCode: z.string(),
  status: RunStatus,
  trigger: RunTrigger,
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
  /** Recent publish rate (events/s) while the run publishes; null otherwise or not yet known. */
  eventsPerSecond: z.number().nullable(),
  /** Seconds left at that rate; null when the rate or the total is not known. */
  etaSeconds: z.number().int().nullable(),
  /** The actions the run's status allows now (a console shows a button for each). */
  allowedActions: z.array(RunAction),
});
export type RunView = z.infer<typeof RunView>;
