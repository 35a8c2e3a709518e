/** Field rules shared by the API's request schemas (and by clients that check input first). */
import { z } from 'zod';
import { canonicalDateOrInstant, fractionDigits, MAX_FRACTION_DIGITS } from '../instants.js';

export const Uuid = z.guid({ error: 'must be a UUID' });

/**
 * A tenant's id: people paste the tenant's name here, so the refusal says where the ids are
 * listed.
 */
export const TenantId = z.guid({
  error: 'must be a UUID (find tenant ids with `hsync tenants` or GET /admin/tenants)',
});

/** An application's id or code in a path: `crm`, `hr`, ... */
export const ApplicationRef = z
  .string()
  .min(1, 'must not be empty')
  .max(64, 'must be at most 64 characters')
  .regex(/^[A-Za-z0-9_-]+$/, 'must be an application id or code (letters, digits, _ and -)');

/** A whole number within [min, max], with messages that say the bounds. */
export const wholeNumber = (min: number, max: number) =>
  z
    .number()
    .int('must be a whole number')
    .min(min, `must be at least ${min}`)
    .max(max, `must be at most ${max.toLocaleString('en-US')}`);

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
 * Text Postgres stores as sent: it refuses NUL in text (a 500 before this check), and would
 * store an unpaired surrogate as U+FFFD, silently changing the value.
 */
const storable = (value: string) => !value.includes('\u0000') && !/\p{Cs}/u.test(value);
const STORABLE = { error: 'must not contain NUL characters or unpaired surrogates' };
/** Required text of at most `max` characters that Postgres stores exactly as sent. */
export const storableText = (max: number) =>
  z.string().trim().min(1).max(max).refine(storable, STORABLE);
export const optionalStorableText = (max: number) =>
  z.string().max(max).refine(storable, STORABLE).nullable().optional();

/** An ISO-8601 date-time with an offset, read as a Date within the four-digit years. */
export const Instant = z.iso
  .datetime({ offset: true, error: 'must be an ISO-8601 date-time, e.g. 2025-12-31T00:00:00Z' })
  .transform((value) => new Date(value))
  .refine(inFourDigitYears, FOUR_DIGIT_YEARS);

/** `2024-07-01T00:00`, `2024-07-01T00:00:00.5`: a date-time with no `Z` and no offset. */
const ZONELESS_DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/;

/**
 * `sinceDate` as a client types it: an ISO-8601 date-time with an offset, to the microsecond, or
 * a plain date. Checked, not converted (SinceDate converts).
 */
export const SinceDateText = z
  .union([z.iso.datetime({ offset: true }), z.iso.date()], {
    // A date-time without a zone would be read in the server's zone, which the client cannot
    // know: refused, with the fix named, since it is the likeliest near miss.
    error: (issue) =>
      typeof issue.input === 'string' && ZONELESS_DATE_TIME.test(issue.input)
        ? 'needs Z or an offset after the time, e.g. 2024-07-01T00:00:00Z or 2024-07-01T00:00:00+02:00'
        : 'must be an ISO-8601 date or date-time, e.g. 2024-07-01 or 2024-07-01T00:00:00Z',
  })
  .refine(
    (value) => fractionDigits(value) <= MAX_FRACTION_DIGITS,
    `has more than ${MAX_FRACTION_DIGITS} fractional digits: Postgres keeps microseconds`,
  );

/**
 * SinceDateText as canonical UTC text with the microseconds Postgres keeps (canonicalInstant):
 * never a Date, which keeps milliseconds only.
 */
export const SinceDate = SinceDateText.meta({
  description:
    'Only rows created (credits: allocated) at or after this instant. A date-time with Z or an offset, to the microsecond (at most 6 fractional digits), or a plain date (midnight UTC).',
}).transform((value, context) => {
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

/** An instant in a response: `toISOString()` text. */
export const IsoInstant = z.iso.datetime();
