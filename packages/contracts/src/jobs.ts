/** The job catalog: queue names and the payload each queue's jobs carry. */
import { z } from 'zod';
import { canonicalInstant } from './instants.js';
import { isResource, RESOURCE_QUEUES, type Resource } from './resources.js';

export const RUNS_QUEUE = 'backfill-runs';
/** Each resource's queue (the registry's, resources.ts). */
export { RESOURCE_QUEUES };

/** The parent job of a run; it completes the run once every resource job has. */
export const RunJobData = z.object({
  runId: z.guid(),
  tenantId: z.guid(),
  appCode: z.string(),
});
export type RunJobData = z.infer<typeof RunJobData>;

/** One resource of one run: pages through its rows and publishes them. */
export const ResourceJobData = RunJobData.extend({
  // A registered resource too (resources.ts): checked against the registry when parsed.
  resource: z.string().refine(isResource, 'must be a resource'),
  /** Canonical instant text (canonicalInstant), to the microsecond Postgres keeps. */
  sinceDate: z
    .string()
    .refine((text) => canonicalInstant(text) === text, 'must be a canonical UTC instant')
    .nullable(),
  pageSize: z.number().int().min(1).max(10_000),
  /** Which id-range partition of the resource this job covers, of how many. */
  partition: z.number().int().min(0).default(0),
  partitions: z.number().int().min(1).max(256).default(1),
});
export type ResourceJobData = z.infer<typeof ResourceJobData>;

// BullMQ reserves ":" in custom job ids. An unpartitioned resource's job is `<runId>-<resource>`.
export const resourceJobId = (runId: string, resource: Resource, partition = 0, partitions = 1) =>
  partitions === 1 ? `${runId}-${resource}` : `${runId}-${resource}-${partition}`;
