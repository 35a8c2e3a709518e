/** A backfill run as the API shows it: `GET .../sync-runs/:runId`, its controls, `latestRun`. */
import { z } from 'zod';
import { isResource } from '../resources.js';
import {
  RESOURCE_PROGRESS_STATUSES,
  RUN_ACTIONS,
  RUN_STATUSES,
  RUN_TRIGGERS,
} from '../run-vocabulary.js';
import { IsoInstant, Uuid } from './fields.js';
import { OrgParams } from './params.js';

// The lists are the run vocabulary's (run-vocabulary.ts); these are their schemas.
export const RunStatus = z.enum(RUN_STATUSES);
export type RunStatus = z.infer<typeof RunStatus>;
export const RunTrigger = z.enum(RUN_TRIGGERS);
export type RunTrigger = z.infer<typeof RunTrigger>;
export const RunAction = z.enum(RUN_ACTIONS);
export type RunAction = z.infer<typeof RunAction>;

export const RunParams = OrgParams.extend({ runId: Uuid });

export const ResourceProgress = z.object({
  /** The resource's own status; `paused` while its run is paused and it has work left. */
  status: z.enum(RESOURCE_PROGRESS_STATUSES),
  published: z.number().int(),
  /** Rows the resource will publish; null until counted. */
  total: z.number().int().nullable(),
  percent: z.number().nullable(),
  lastError: z.string().nullable(),
  /**
   * While its pages are slowed or paused: "throttled by source load: <why> (for <how long>)", or
   * "throttled by replica lag: …" for a replica's (docs/REPLICA.md); null otherwise.
   */
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
  resources: z.partialRecord(z.string().refine(isResource), ResourceProgress),
  /** Recent publish rate (events/s) while the run publishes; null otherwise or not yet known. */
  eventsPerSecond: z.number().nullable(),
  /** Seconds left at that rate; null when the rate or the total is not known. */
  etaSeconds: z.number().int().nullable(),
  /** The actions the run's status allows now (a console shows a button for each). */
  allowedActions: z.array(RunAction),
});
export type RunView = z.infer<typeof RunView>;
