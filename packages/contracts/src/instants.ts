/**
 * Instants at the precision Postgres keeps (microseconds), carried as text: a JavaScript `Date`
 * keeps milliseconds only, so `sinceDate` never passes through one on its way to SQL.
 */

/** Postgres's `timestamptz` resolution; finer input would be rounded, so it is refused. */
export const MAX_FRACTION_DIGITS = 6;

const HH_MM = '(?:[01]\\d|2[0-3]):[0-5]\\d';
const DATE_TIME = new RegExp(
  `^((\\d{4})-(\\d{2})-(\\d{2})T${HH_MM}:[0-5]\\d)(?:\\.(\\d+))?(Z|[+-]${HH_MM})$`,
  'i',
);

/** Whether year-month-day names a day of the calendar (Date would roll 02-30 into March). */
const isCalendarDay = (year: number, month: number, day: number) =>
  new Date(Date.UTC(year, month - 1, day)).getUTCDate() === day && month >= 1 && month <= 12;

/**
 * An ISO-8601 date-time with `Z` or an offset, as canonical UTC text: `YYYY-MM-DDTHH:MM:SS.mmmZ`
 * (what `toISOString()` writes) when the instant falls on a whole millisecond, else with all six
 * digits, `.mmmuuuZ`. Null when the text is not such a date-time, has more than six fractional
 * digits, or names no instant in the years 0001 to 9999 UTC.
 */
export function canonicalInstant(text: string): string | null {
  const match = DATE_TIME.exec(text);
  if (!match) return null;
  const [, wholeSeconds = '', year = '', month = '', day = '', fraction = '', zone = ''] = match;
  if (fraction.length > MAX_FRACTION_DIGITS) return null;
  if (!isCalendarDay(Number(year), Number(month), Number(day))) return null;
  // Offsets are whole minutes, so the fraction is the same in every zone: only the whole
  // seconds go through Date.
  const date = new Date(`${wholeSeconds}${zone}`);
  if (Number.isNaN(date.getTime())) return null;
  const utcYear = date.getUTCFullYear();
  if (utcYear < 1 || utcYear > 9999) return null;
  const micros = fraction.padEnd(MAX_FRACTION_DIGITS, '0');
  const digits = micros.endsWith('000') ? micros.slice(0, 3) : micros;
  return `${date.toISOString().slice(0, 19)}.${digits}Z`;
}

/** How many fractional-second digits a date-time has (0 for none, or a plain date). */
export const fractionDigits = (text: string) => /\.(\d+)/.exec(text)?.[1]?.length ?? 0;

/** The canonical text of a plain date's midnight UTC, or of a date-time (see canonicalInstant). */
export function canonicalDateOrInstant(text: string): string | null {
  return /^\d{4}-\d{2}-\d{2}$/.test(text)
    ? canonicalInstant(`${text}T00:00:00Z`)
    : canonicalInstant(text);
}
