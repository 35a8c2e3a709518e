/** `POST …/applications/:appCode/verify`: compare an application's copy with the source. */
import { z } from 'zod';
import { RESOURCES, type Resource } from '../resources.js';

const isResource = (value: string): value is Resource =>
  (RESOURCES as readonly string[]).includes(value);

export const VerifyBody = z.strictObject({
  /** The resources to compare; all by default. Checked as a whole, so a 400 names `resources`. */
  resources: z
    .array(z.string())
    .min(1)
    .max(RESOURCES.length)
    .refine((values) => values.every(isResource), {
      error: `must list resources among ${RESOURCES.join(', ')}`,
    })
    .transform((values) => values.filter(isResource))
    .optional(),
  /**
   * Repair what differs (docs/VERIFY.md): a run (trigger `verify`) publishes the current state of
   * the rows found differing, and the application is asked to forget rows the source never had.
   * Off by default: a verification only reports.
   */
  repair: z.boolean().optional(),
});

const Difference = z.object({
  id: z.guid(),
  kind: z.enum(['missing', 'stale', 'ghost']),
  sourceVersion: z.number().int().nullable(),
  applicationVersion: z.number().int().nullable(),
});

export const ResourceVerification = z.object({
  /** Active rows the source has, all compared. */
  rowsChecked: z.number().int(),
  rangesCompared: z.number().int(),
  leavesCompared: z.number().int(),
  missing: z.number().int(),
  stale: z.number().int(),
  ghost: z.number().int(),
  /** Rows that differed but changed at the source during the verification (the live path's). */
  changedDuringVerification: z.number().int(),
  /** The first differences by id (at most 100). */
  differences: z.array(Difference),
});

/** What a repair did: the run publishing the differing rows, and the rows the application forgot. */
export const RepairView = z.object({
  /** The repair run (trigger `verify`); null when nothing needed publishing or it could not start. */
  runId: z.guid().nullable(),
  /** Rows the run publishes (their current state: an event, or a tombstone when inactive). */
  rows: z.number().int(),
  /** Ghosts the source never had, dropped by the application on request. */
  forgotten: z.number().int(),
  /** Differences left unrepaired, and why (e.g. the application has no forget hook). */
  unrepaired: z.number().int(),
  error: z.string().nullable(),
});
export type RepairView = z.infer<typeof RepairView>;

export const VerificationView = z.object({
  verificationId: z.guid(),
  tenantId: z.guid(),
  appCode: z.string(),
  status: z.enum(['running', 'completed', 'failed']),
  startedAt: z.string(),
  finishedAt: z.string().nullable(),
  /** Differences found, all resources (missing + stale + ghost). */
  differences: z.number().int(),
  resources: z.record(z.string(), ResourceVerification),
  /** Null when the verification was not asked to repair (or has not finished). */
  repair: RepairView.nullable(),
  error: z.string().nullable(),
});
export type VerificationView = z.infer<typeof VerificationView>;
