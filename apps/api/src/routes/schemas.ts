/** Request schemas of the admin routes, strict: an unknown field is a 400 naming it. */
import {
  canonicalDateOrInstant,
  fractionDigits,
  MAX_FRACTION_DIGITS,
} from '@historical-sync/contracts';
import { z } from 'zod';

export const OrgParams = z.object({
  orgId: z.guid({ error: 'must be a UUID' }),
});

const applicationRef = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9_-]+$/, 'must be an application id or code');

export const ToggleParams = OrgParams.extend({ appId: applicationRef });
export const AppCodeParams = OrgParams.extend({ appCode: applicationRef });
export const RunParams = OrgParams.extend({ runId: z.guid({ error: 'must be a UUID' }) });

export const ToggleBody = z.strictObject({
  isEnabled: z.boolean(),
  skipHistoricalSync: z.boolean().default(false),
});

/**
 * Instants in years 0001 to 9999 UTC: outside them, `toISOString()` gives a 6-digit or negative
 * year that the event and job contracts refuse, and Postgres renders year 0 as "0001 BC".
 */
export const inFourDigitYears = (date: Date) => {
  const year = date.getUTCFullYear();
  return year >= 1 && year <= 9999;
};
export const FOUR_DIGIT_YEARS = { error: 'must be between 0001-01-01 and 9999-12-31 (UTC)' };

/**
 * ISO-8601 instant with an offset, or a plain date (midnight UTC), as canonical UTC text with the
 * microseconds Postgres keeps (canonicalInstant): never a Date, which keeps milliseconds only.
 */
const sinceDate = z
  .union([z.iso.datetime({ offset: true }), z.iso.date()], {
    error: 'must be an ISO-8601 date or date-time, e.g. 2024-01-01T00:00:00Z',
  })
  .meta({
    description:
      'Only rows created (credits: allocated) at or after this instant. A date-time with Z or an offset, to the microsecond (at most 6 fractional digits), or a plain date (midnight UTC).',
  })
  .refine(
    (value) => fractionDigits(value) <= MAX_FRACTION_DIGITS,
    `has more than ${MAX_FRACTION_DIGITS} fractional digits: Postgres keeps microseconds`,
  )
  .transform((value, context) => {
    const canonical = canonicalDateOrInstant(value);
    if (canonical !== null) return canonical;
    // Date rolls 02-30 into March: a real instant outside the years is the other refusal.
    const date = new Date(value.length === 10 ? `${value}T00:00:00Z` : value);
    const outOfYears = !Number.isNaN(date.getTime()) && !inFourDigitYears(date);
    context.addIssue({
      code: 'custom',
      message: outOfYears ? FOUR_DIGIT_YEARS.error : 'is not a valid date',
    });
    return z.NEVER;
  });

export const SyncBody = z
  .strictObject({
    syncCredits: z.boolean().default(true),
    syncOrganizations: z.boolean().default(true),
    syncAssignments: z.boolean().default(true),
    dryRun: z.boolean().default(false),
    sinceDate: sinceDate.nullable().default(null),
    /** Rows per page for this run (default BACKFILL_PAGE_SIZE). */
    pageSize: z.number().int().min(1).max(10_000).optional(),
    /** Cap on this run's publish rate (default BACKFILL_MAX_EVENTS_PER_SECOND). */
    maxEventsPerSecond: z.number().int().min(1).max(10_000_000).optional(),
    /** Id-range partitions per resource, each its own job (default BACKFILL_PARTITIONS). */
    partitions: z.number().int().min(1).max(256).optional(),
  })
  .refine((body) => body.syncCredits || body.syncOrganizations || body.syncAssignments, {
    error: 'at least one of syncCredits, syncOrganizations, syncAssignments must be true',
    path: ['syncCredits'],
  });
