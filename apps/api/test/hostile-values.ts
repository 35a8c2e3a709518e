/**
 * Hostile and boundary values for the property tests, with no knowledge of any route: strings
 * (injections, odd unicode, unstorable text), ids, date-times, numbers, JSON of the wrong kind.
 * The route models (schema-models.ts, arbitraries.ts) pick from these by what a field's schema
 * says it takes.
 */
import fc from 'fast-check';

/** `8-4-4-4-12` hex, any case: every id Postgres accepts (the API's documented id format). */
export const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Fastify's default: a longer path parameter does not match any route (404, not 400). */
export const MAX_PARAM_LENGTH = 100;
/** The body limit the test context configures. */
export const BODY_LIMIT_BYTES = 64 * 1024;

// ---------------------------------------------------------------------------------------------
// Values that are resolved or serialized only when the request is sent.

/** A JSON token written verbatim (numbers JSON.stringify cannot produce, e.g. `1e400`). */
export class RawJson {
  constructor(readonly text: string) {}
  [fc.toStringMethod](): string {
    return `raw(${this.text.length > 60 ? `${this.text.slice(0, 60)}…(${this.text.length})` : this.text})`;
  }
}

/** Rows the test seeded or created, picked when the request is sent (ids change as it runs). */
export type RefKind =
  | 'tenant'
  | 'otherTenant'
  | 'org'
  | 'otherOrg'
  | 'allocation'
  | 'otherAllocation'
  | 'membership'
  | 'run'
  | 'app'
  | 'apiKey';

export class Ref {
  constructor(
    readonly kind: RefKind,
    readonly pick: number,
    /** Send the id in upper case (still a valid UUID). */
    readonly upper = false,
  ) {}
  [fc.toStringMethod](): string {
    return `ref(${this.kind}#${this.pick}${this.upper ? ',upper' : ''})`;
  }
}

/** A path parameter: a row picked when sent, or a literal (URL-encoded unless `raw`). */
export type ParamValue = Ref | { literal: string; raw?: boolean };

/** JSON text of `value`, writing `RawJson` tokens verbatim; `resolve` turns refs into ids. */
export function toJsonText(value: unknown, resolve: (ref: Ref) => string): string {
  if (value instanceof RawJson) return value.text;
  if (value instanceof Ref) return JSON.stringify(resolve(value));
  if (Array.isArray(value)) return `[${value.map((v) => toJsonText(v, resolve)).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value).map(
      ([k, v]) => `${JSON.stringify(k)}:${toJsonText(v, resolve)}`,
    );
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

// ---------------------------------------------------------------------------------------------
// Strings.

export const SQL_INJECTIONS = [
  "' OR '1'='1",
  "'; DROP TABLE tenants; --",
  "1'); DELETE FROM outbox; --",
  '1; SELECT pg_sleep(5)--',
  "' UNION SELECT id, name FROM tenants --",
  '$$; TRUNCATE entities; $$',
  "\\'; SELECT 1; --",
  "E'\\\\x00'",
  '%',
  '_',
  "admin'--",
  '"; COMMIT; BEGIN; --',
];
export const NOSQL_INJECTIONS = [
  '{"$gt": ""}',
  '{"$ne": null}',
  '$where',
  'this.password.match(/.*/)',
  '{"__proto__": {"admin": true}}',
  'constructor.prototype',
];
export const REDIS_INJECTIONS = [
  '\r\nFLUSHALL\r\n',
  '*1\r\n$8\r\nFLUSHALL\r\n',
  'EVAL "return redis.call(\'flushall\')" 0',
  'hs:*',
  '{hs}:backfill-runs',
  'crm:sync:organization:org_created',
  'bull:backfill-runs:1',
  '\n\rDEL *\n',
];
export const PATH_TRAVERSALS = [
  '..',
  '.',
  '../..',
  '../../etc/passwd',
  '..\\..\\windows\\win.ini',
  '%2e%2e%2f',
  '..%2F..%2F',
  '....//....//',
  '/etc/passwd',
  '~',
  '.%00.',
];
/** Characters that break naive handling: NUL, lone surrogates, BOM, bidi, combining, astral. */
export const ODD_CHARACTERS = [
  '\u0000',
  '\ud800',
  '\udfff',
  '\ufeff',
  '\u202e',
  '\u200b',
  'e\u0301',
  '\u{1F4A5}',
  '\uffff',
  '\ufffe',
  '\u2028',
  '\u{1D573}',
  'İ',
  'ß',
  '\u001b[31m',
  '\\',
  '"',
  '\n',
];

const codeUnit = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c));
const astral = fc.integer({ min: 0x10000, max: 0x10ffff }).map((c) => String.fromCodePoint(c));
/** Any UTF-16 string: lone surrogates and NUL included. */
export const anyUnicode = fc.string({
  unit: fc.oneof(codeUnit, astral, fc.constantFrom(...ODD_CHARACTERS)),
  maxLength: 30,
});

const hostileConstants = fc.constantFrom(
  ...SQL_INJECTIONS,
  ...NOSQL_INJECTIONS,
  ...REDIS_INJECTIONS,
  ...PATH_TRAVERSALS,
  ...ODD_CHARACTERS,
);

/** Injection payloads, odd unicode, and mixes of both. */
export const hostileString: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: hostileConstants },
  { weight: 3, arbitrary: anyUnicode },
  { weight: 1, arbitrary: fc.string({ maxLength: 20 }) },
  {
    weight: 2,
    arbitrary: fc
      .tuple(hostileConstants, anyUnicode, hostileConstants)
      .map(([a, b, c]) => `${a}${b}${c}`),
  },
);

/** Contains NUL or a lone surrogate: not text Postgres can store as given. */
export const hasUnstorableText = (s: string) => s.includes('\u0000') || /\p{Cs}/u.test(s);

/** A string the product must store exactly (no NUL, no lone surrogate), hostile all the same. */
export const storableHostileString = hostileString.filter((s) => !hasUnstorableText(s));

/** Strings with NUL or a lone surrogate somewhere. */
export const unstorableString: fc.Arbitrary<string> = fc
  .tuple(
    fc.string({ maxLength: 10 }),
    fc.constantFrom('\u0000', '\ud800', '\udbff', '\udc00', '\udfff', '\u0000\u0000'),
    fc.string({ maxLength: 10 }),
  )
  .map(([a, bad, b]) => `${a}${bad}${b}`);

/** Whitespace only: empty once trimmed. */
export const blankString = fc.constantFrom('', ' ', '   ', '\t\n', '\u00a0', '\ufeff', '\u2003 ');

/**
 * `length` characters (code points: what the API's limits count), sometimes wide ones, so that
 * bytes and UTF-16 units exceed characters.
 */
export const longString = (min: number, max: number) =>
  fc
    .tuple(fc.integer({ min, max }), fc.constantFrom('x', 'é', '\u{1F4A5}', "'"))
    .map(([length, ch]) => ch.repeat(length));

// ---------------------------------------------------------------------------------------------
// Ids.

export const uuid = fc.uuid({ version: [1, 2, 3, 4, 5, 6, 7, 8] });

/** Close to a UUID but not one: edits of a real UUID, other id syntaxes. */
export const almostUuid: fc.Arbitrary<string> = fc
  .oneof(
    fc
      .tuple(uuid, fc.nat(), fc.constantFrom('g', 'z', '-', ' ', '\u0000', 'é', '0', ''))
      .map(([u, at, ch]) => {
        const i = at % u.length;
        return `${u.slice(0, i)}${ch}${u.slice(i + 1)}`;
      }),
    uuid.map((u) => u.slice(0, -1)),
    uuid.map((u) => `${u}0`),
    uuid.map((u) => u.replaceAll('-', '')),
    uuid.map((u) => `{${u}}`),
    uuid.map((u) => `urn:uuid:${u}`),
    uuid.map((u) => ` ${u}`),
    uuid.map((u) => `${u}\n`),
    uuid.map((u) => `${u};`),
    uuid.map((u) => `${u.slice(0, 8)}-${u.slice(9, 13)}${u.slice(14)}`),
    fc.constantFrom('0', '-1', 'null', 'undefined', 'NaN', '00000000-0000-0000-0000-00000000000'),
  )
  .filter((s) => s.length > 0 && !UUID_RE.test(s));

// ---------------------------------------------------------------------------------------------
// Dates.

const pad = (n: number, width: number) => String(n).padStart(width, '0');

/**
 * `YYYY-MM-DDTHH:MM:SS[.fff]<offset>` with any field in or just out of range, years 0 to 9999
 * (boundaries often), offsets up to ±23:59 or none: valid and invalid date-times alike.
 */
export const dateTimeCandidate: fc.Arbitrary<string> = fc
  .record({
    year: fc.oneof(
      fc.constantFrom(0, 1, 1969, 1970, 2000, 2024, 9999),
      fc.integer({ min: 0, max: 9999 }),
    ),
    month: fc.integer({ min: 0, max: 13 }),
    day: fc.integer({ min: 0, max: 32 }),
    hour: fc.integer({ min: 0, max: 24 }),
    minute: fc.integer({ min: 0, max: 60 }),
    second: fc.integer({ min: 0, max: 60 }),
    fraction: fc.option(fc.integer({ min: 0, max: 999_999 }).map(String)),
    offset: fc.oneof(
      fc.constantFrom('Z', 'z', '', '+00:00', '-00:00', '+23:59', '-23:59', '+14:00', '-12:00'),
      fc
        .tuple(
          fc.constantFrom('+', '-'),
          fc.integer({ min: 0, max: 24 }),
          fc.integer({ min: 0, max: 59 }),
        )
        .map(([sign, h, m]) => `${sign}${pad(h, 2)}:${pad(m, 2)}`),
    ),
  })
  .map(
    (d) =>
      `${pad(d.year, 4)}-${pad(d.month, 2)}-${pad(d.day, 2)}T${pad(d.hour, 2)}:${pad(d.minute, 2)}:${pad(d.second, 2)}` +
      `${d.fraction === null ? '' : `.${d.fraction}`}${d.offset}`,
  );

/** Date-times at the edges of what can be stored and rendered: must be refused or stored. */
export const extremeDateTime = fc.constantFrom(
  '0000-01-01T00:00:00Z',
  '0000-01-01T00:00:00+23:59',
  '0001-01-01T00:00:00+00:01',
  '0001-01-01T00:00:00Z',
  '9999-12-31T23:59:59.999Z',
  '9999-12-31T23:59:59-00:01',
  '9999-12-31T23:59:59-23:59',
  '1970-01-01T00:00:00Z',
  '2038-01-19T03:14:08Z',
  '2024-02-29T00:00:00Z',
  '2023-02-29T00:00:00Z',
  '2024-02-30T00:00:00Z',
  '2024-06-31T00:00:00Z',
  '2024-01-01T00:00:60Z',
  '2024-01-01T23:59:59.999999999Z',
);

/** Not a date-time by any reading of ISO-8601 with an offset. */
export const invalidDateTime: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    'infinity',
    '-infinity',
    'Infinity',
    'NaN',
    'now',
    'today',
    'epoch',
    'allballs',
    'Invalid Date',
    '',
    ' ',
    '2024',
    '2024-13-01T00:00:00Z',
    '2024-00-10T00:00:00Z',
    '2024-01-32T00:00:00Z',
    '2024-01-01T25:00:00Z',
    '275760-09-13T00:00:00Z',
    '+275760-09-13T00:00:00.000Z',
    '-271821-04-20T00:00:00.000Z',
    '-000001-01-01T00:00:00Z',
    '2024-01-01 00:00:00+00',
    'Mon, 01 Jan 2024 00:00:00 GMT',
    '1704067200',
    '2024-01-01T00:00:00+24:00',
    '2024-01-01T00:00:00 BC',
    "2024-01-01T00:00:00Z' OR '1'='1",
    '2024-01-01T00:00:00Z\u0000',
  ),
  // Time zone missing: a local time, which the API must not guess.
  fc
    .date({
      min: new Date('0001-01-01T00:00:00Z'),
      max: new Date('9999-12-31T00:00:00Z'),
      noInvalidDate: true,
    })
    .map((d) => d.toISOString().slice(0, 19)),
);

/** Valid date-times: any instant from 1900 to 2200, with a Z or an offset. */
export const validDateTime: fc.Arbitrary<string> = fc
  .tuple(
    fc.date({
      min: new Date('1900-01-01T00:00:00Z'),
      max: new Date('2200-01-01T00:00:00Z'),
      noInvalidDate: true,
    }),
    fc.constantFrom('Z', '+00:00', '+05:30', '-08:00'),
  )
  .map(([d, offset]) => {
    if (offset === 'Z') return d.toISOString();
    const sign = offset.startsWith('-') ? -1 : 1;
    const [h, m] = offset.slice(1).split(':').map(Number) as [number, number];
    const local = new Date(d.getTime() + sign * (h * 60 + m) * 60_000);
    return `${local.toISOString().slice(0, 23)}${offset}`;
  });

// ---------------------------------------------------------------------------------------------
// Numbers and wrong types.

/** Numbers no integer range accepts: fractions, non-finite, beyond 2^53. */
export const nonIntegerNumber: fc.Arbitrary<unknown> = fc.oneof(
  fc.double({ noNaN: true, noDefaultInfinity: true }).filter((n) => !Number.isInteger(n)),
  fc.constantFrom(
    0.5,
    -0.5,
    1e-7,
    2 ** 53,
    2 ** 53 + 2,
    2 ** 63,
    1e20,
    1e308,
    -1e308,
    Number.MAX_VALUE,
    Number.MIN_VALUE,
    new RawJson('1e400'),
    new RawJson('-1e400'),
    new RawJson('123456789012345678901234567890'),
    new RawJson('9007199254740993'),
  ),
);

/** Numbers that are whole in JSON's reading even though they look odd. */
export const oddIntegerTokens = fc.constantFrom(
  new RawJson('-0'),
  new RawJson('1.0'),
  new RawJson('1E2'),
  new RawJson('1e-400'),
  new RawJson('0.0'),
);

/** n levels of arrays or objects: deep enough to hurt recursive code, small enough for the limit. */
export const deepJson = fc.oneof(
  fc
    .integer({ min: 100, max: 20_000 })
    .map((depth) => new RawJson(`${'['.repeat(depth)}${']'.repeat(depth)}`)),
  fc
    .integer({ min: 100, max: 8_000 })
    .map((depth) => new RawJson(`${'{"a":'.repeat(depth)}null${'}'.repeat(depth)}`)),
);

/**
 * JSON values without `__proto__` or `constructor` keys: Fastify refuses those for the whole
 * body (prototype poisoning), which requestFault covers on its own.
 */
export const plainJsonValue = (maxDepth: number) =>
  fc
    .jsonValue({ maxDepth })
    .filter((v) => !/"(__proto__|constructor)"\s*:/.test(JSON.stringify(v) ?? ''));

export type JsonKind = 'string' | 'number' | 'boolean' | 'object' | 'array' | 'null';
const kindOf = (value: unknown): JsonKind =>
  value === null
    ? 'null'
    : Array.isArray(value) || (value instanceof RawJson && value.text.startsWith('['))
      ? 'array'
      : value instanceof RawJson
        ? value.text.startsWith('{')
          ? 'object'
          : 'number'
        : (typeof value as JsonKind);

/** JSON values of any kind but `allowed`. */
export function wrongType(...allowed: JsonKind[]): fc.Arbitrary<unknown> {
  return fc
    .oneof(
      fc.constantFrom<unknown>(true, false, 0, 1, -1, '', 'true', 'false', '1', 'null', null),
      fc.constantFrom<unknown>([], {}, [null], [true], { $gt: '' }, { value: true }, ['crm']),
      plainJsonValue(3),
      { weight: 1, arbitrary: deepJson },
    )
    .filter((v) => !allowed.includes(kindOf(v)));
}
