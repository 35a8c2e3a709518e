/**
 * fast-check arbitraries for hostile requests to every route of the API (properties.test.ts).
 * Each generated request says what is wrong with it (its fault), so the properties know what
 * to expect: a fault in one field must be answered with a 400 naming that field.
 *
 * Validity is described here independently of the product's zod schemas (regular expressions,
 * bounds and lists written from the README), so the properties check the schemas instead of
 * repeating them.
 */
import { RunListQuery, TenantListQuery } from '@historical-sync/contracts';
import fc from 'fast-check';

/** `8-4-4-4-12` hex, any case: every id Postgres accepts (the API's documented id format). */
export const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** `:appId` / `:appCode`: an application's code or id. */
export const APP_REF_RE = /^[A-Za-z0-9_-]{1,64}$/;
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

type JsonKind = 'string' | 'number' | 'boolean' | 'object' | 'array' | 'null';
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

// ---------------------------------------------------------------------------------------------
// Field models: what each body field accepts and what it must refuse.

export interface FieldModel {
  /** Values the API accepts here. */
  valid: fc.Arbitrary<unknown>;
  /** Values it must refuse: a body differing from a valid one only here is a 400 naming it. */
  invalid: fc.Arbitrary<unknown>;
  /** Hostile values it may accept or refuse (refused: a 400 naming this field or `related`). */
  hostile: fc.Arbitrary<unknown>;
  required?: boolean;
  /** Fields a rule across fields may name instead (e.g. `availableCredits` exceeding `amount`). */
  related?: string[];
}

const bool = (opts: { valid?: fc.Arbitrary<boolean>; required?: boolean } = {}): FieldModel => ({
  valid: opts.valid ?? fc.boolean(),
  invalid: wrongType('boolean'),
  hostile: fc.boolean(),
  required: opts.required ?? false,
});

/** Required text, trimmed, 1..max characters, storable. */
const text = (max: number, valid?: fc.Arbitrary<string>): FieldModel => ({
  valid:
    valid ??
    fc.oneof(
      storableHostileString.filter((s) => s.trim().length > 0 && [...s].length <= max),
      fc.string({ minLength: 1, maxLength: 20 }).filter((s) => s.trim().length > 0),
    ),
  invalid: fc.oneof(
    wrongType('string'),
    blankString,
    longString(max + 1, max + 300).map((s) => `${s}x`),
    unstorableString,
  ),
  hostile: fc.oneof(hostileString, longString(max - 2, max + 2)),
  required: true,
});

/** Optional, nullable, untrimmed text up to max characters. */
const optionalText = (max: number): FieldModel => ({
  valid: fc.oneof(
    fc.constant(null),
    storableHostileString.filter((s) => [...s].length <= max),
    fc.string({ maxLength: 40 }),
  ),
  invalid: fc.oneof(wrongType('string', 'null'), longString(max + 1, max + 300), unstorableString),
  hostile: fc.oneof(hostileString, longString(max - 2, max + 2), blankString),
});

const idField = (
  ref: RefKind,
  opts: { nullable?: boolean; required?: boolean } = {},
): FieldModel => ({
  valid: fc.oneof(
    { weight: 4, arbitrary: fc.nat().map((n) => new Ref(ref, n)) },
    { weight: 1, arbitrary: fc.nat().map((n) => new Ref(ref, n, true)) },
    ...(opts.nullable ? [{ weight: 1, arbitrary: fc.constant(null) }] : []),
  ),
  invalid: fc.oneof(
    wrongType('string', ...(opts.nullable ? (['null'] as const) : [])),
    almostUuid,
    hostileString.filter((s) => !UUID_RE.test(s)),
  ),
  // Another kind of row, another tenant's row, or no row: 404 (or 409), never 400.
  hostile: fc.oneof(
    uuid,
    fc
      .tuple(
        fc.constantFrom<RefKind>('otherOrg', 'allocation', 'membership', 'tenant', 'run', 'org'),
        fc.nat(),
      )
      .map(([kind, n]) => new Ref(kind, n)),
    fc.constant('00000000-0000-0000-0000-000000000000'),
    fc.constant('FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF'),
  ),
  required: opts.required ?? true,
});

/** Whole credits: 0 .. 2^53-1. */
const creditCount = (required: boolean, related: string[] = []): FieldModel => ({
  valid: fc.oneof(fc.integer({ min: 0, max: 1_000_000 }), fc.constant(Number.MAX_SAFE_INTEGER)),
  invalid: fc.oneof(
    wrongType('number'),
    fc.integer({ min: -1_000_000, max: -1 }),
    fc.constant(-Number.MAX_SAFE_INTEGER),
    nonIntegerNumber,
  ),
  hostile: fc.oneof(oddIntegerTokens, fc.maxSafeInteger()),
  required,
  related,
});

const boundedInt = (min: number, max: number): FieldModel => ({
  valid: fc.integer({ min, max }),
  invalid: fc.oneof(
    wrongType('number'),
    fc.constantFrom(min - 1, max + 1, -1, 2 ** 31, -(2 ** 31)),
    nonIntegerNumber,
  ),
  hostile: fc.oneof(oddIntegerTokens, fc.integer()),
});

/** An instant with an offset (`expiresAt`): nullable. */
const instant = (): FieldModel => ({
  valid: fc.oneof(fc.constant(null), validDateTime),
  invalid: fc.oneof(
    wrongType('string', 'null'),
    invalidDateTime,
    validDateTime.map((s) => s.slice(0, 10)),
  ),
  hostile: fc.oneof(dateTimeCandidate, extremeDateTime, hostileString),
  required: false,
});

/** A valid date-time's milliseconds with `extra` more digits: `.123` + `4` = `.1234`. */
const withMoreDigits = (extra: fc.Arbitrary<string>) =>
  fc.tuple(validDateTime, extra).map(([s, digits]) => `${s.slice(0, 23)}${digits}${s.slice(23)}`);

/**
 * `sinceDate`: a date-time with an offset (to the microsecond) or a plain date, nullable; more
 * than six fractional digits are refused.
 */
const sinceDate = (): FieldModel => ({
  valid: fc.oneof(
    fc.constant(null),
    validDateTime,
    withMoreDigits(fc.stringMatching(/^\d{1,3}$/)),
    validDateTime.map((s) => s.slice(0, 10)),
  ),
  invalid: fc.oneof(
    wrongType('string', 'null'),
    invalidDateTime,
    withMoreDigits(fc.stringMatching(/^\d{4,9}$/)),
  ),
  hostile: fc.oneof(
    dateTimeCandidate,
    extremeDateTime,
    dateTimeCandidate.map((s) => s.slice(0, 10)),
    hostileString,
  ),
  required: false,
});

const enumField = (values: string[]): FieldModel => ({
  valid: fc.constantFrom(...values),
  invalid: fc.oneof(
    wrongType('string'),
    fc
      .oneof(
        ...values.map((v) => fc.constantFrom(v.toUpperCase(), ` ${v}`, `${v}\u0000`, `${v}s`)),
        hostileString,
      )
      .filter((s) => !values.includes(s)),
  ),
  hostile: hostileString,
  required: false,
});

// ---------------------------------------------------------------------------------------------
// Routes.

export type ParamModel = { kind: 'id'; ref: RefKind } | { kind: 'app' };

export interface RouteModel {
  name: string;
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  /** Fastify path, `:name` for params. */
  path: string;
  params: Record<string, ParamModel>;
  /** The body's fields, when the route reads a body. */
  body?: Record<string, FieldModel>;
  /** The body must name at least one field (PATCH). */
  nonEmptyBody?: boolean;
  /** Fix up a valid body (e.g. availableCredits <= amount). */
  fixBody?: (body: Record<string, unknown>) => Record<string, unknown>;
  /** Not behind the admin key. */
  public?: boolean;
  /** What a trailing `*` in `path` stands for (sent as is, e.g. a file under a static folder). */
  wildcard?: fc.Arbitrary<string>;
  /**
   * Query parameters the route's schema reads: the random query string sent with every request
   * leaves them out (an over-long `q` is a refused field, not noise); the route's own tests
   * cover their bounds.
   */
  queryFields?: readonly string[];
  /** Fields a rule across the body and the stored row may name (checked after the schema). */
  domainFields?: string[];
  /** Runs of fast-check relative to the others (routes with bodies explore more). */
  weight?: number;
}

const tenant = { orgId: { kind: 'id', ref: 'tenant' } } as const satisfies Record<
  string,
  ParamModel
>;
const base = '/admin/organizations/:orgId';

const capAvailable = (body: Record<string, unknown>) => {
  const { amount, availableCredits } = body;
  if (
    typeof amount === 'number' &&
    typeof availableCredits === 'number' &&
    availableCredits > amount
  ) {
    return { ...body, availableCredits: amount };
  }
  return body;
};

const organizationFields = {
  code: text(100),
  name: text(200),
  description: optionalText(2000),
  industry: optionalText(200),
  website: optionalText(500),
  parentId: idField('org', { nullable: true, required: false }),
};

export const ROUTES: RouteModel[] = [
  { name: 'GET /health', method: 'GET', path: '/health', params: {}, public: true },
  { name: 'GET /ready', method: 'GET', path: '/ready', params: {}, public: true },
  // The API's document and its Swagger UI page (files served by @fastify/swagger-ui).
  ...['/docs', '/docs/json', '/docs/yaml', '/docs/static/index.html'].map(
    (path): RouteModel => ({ name: `GET ${path}`, method: 'GET', path, params: {}, public: true }),
  ),
  {
    name: 'GET /docs/static/swagger-initializer.js',
    method: 'GET',
    path: '/docs/static/swagger-initializer.js',
    params: {},
    public: true,
  },
  {
    name: 'GET /docs/static/*',
    method: 'GET',
    path: '/docs/static/*',
    params: {},
    public: true,
    // The page's own files, a missing one, and traversal out of the folder.
    wildcard: fc.oneof(
      fc.constantFrom('swagger-ui.css', 'swagger-ui-bundle.js', 'index.css', 'nope.js'),
      fc.constantFrom(
        ...PATH_TRAVERSALS,
        '../../../../package.json',
        '..%2F..%2F..%2F..%2Fpackage.json',
        '%2e%2e/%2e%2e/%2e%2e/%2e%2e/package.json',
      ),
    ),
  },
  // The operator console's page and built files (@fastify/static), under their own CSP.
  { name: 'GET /console', method: 'GET', path: '/console', params: {}, public: true },
  {
    name: 'GET /console/*',
    method: 'GET',
    path: '/console/*',
    params: {},
    public: true,
    // The page, a missing asset, and traversal out of the folder.
    wildcard: fc.oneof(
      fc.constantFrom('', 'index.html', 'assets/nope.js'),
      fc.constantFrom(
        ...PATH_TRAVERSALS,
        '../../../../package.json',
        '..%2F..%2F..%2F..%2Fpackage.json',
        '%2e%2e/%2e%2e/%2e%2e/%2e%2e/package.json',
      ),
    ),
  },
  { name: 'GET /metrics', method: 'GET', path: '/metrics', params: {} },
  { name: 'GET /admin/outbox', method: 'GET', path: '/admin/outbox', params: {} },
  {
    name: 'POST toggle',
    method: 'POST',
    path: `${base}/applications/:appId/toggle`,
    params: { ...tenant, appId: { kind: 'app' } },
    body: {
      isEnabled: bool({ required: true }),
      skipHistoricalSync: bool(),
    },
    weight: 2,
  },
  {
    name: 'POST sync-historical',
    method: 'POST',
    path: `${base}/applications/:appCode/sync-historical`,
    params: { ...tenant, appCode: { kind: 'app' } },
    body: {
      // Never false in a valid body, so that one changed field cannot deselect every resource.
      syncCredits: bool({ valid: fc.constant(true) }),
      syncOrganizations: bool({ valid: fc.constant(true) }),
      syncAssignments: bool({ valid: fc.constant(true) }),
      dryRun: bool(),
      sinceDate: sinceDate(),
      pageSize: boundedInt(1, 10_000),
      maxEventsPerSecond: boundedInt(1, 10_000_000),
      partitions: boundedInt(1, 256),
    },
    weight: 3,
  },
  {
    name: 'POST verify',
    method: 'POST',
    path: `${base}/applications/:appCode/verify`,
    params: { ...tenant, appCode: { kind: 'app' } },
    body: {
      resources: {
        valid: fc.subarray(['credits', 'organizations', 'memberships'], { minLength: 1 }),
        invalid: fc.oneof(
          wrongType('array'),
          fc.constant([]),
          fc.array(
            hostileString.filter((s) => !['credits', 'organizations', 'memberships'].includes(s)),
            {
              minLength: 1,
              maxLength: 3,
            },
          ),
        ),
        hostile: fc.array(hostileString, { maxLength: 4 }),
        required: false,
      },
    },
  },
  {
    name: 'GET verification latest',
    method: 'GET',
    path: `${base}/applications/:appCode/verifications/latest`,
    params: { ...tenant, appCode: { kind: 'app' } },
  },
  {
    name: 'GET sync-status',
    method: 'GET',
    path: `${base}/applications/:appCode/sync-status`,
    params: { ...tenant, appCode: { kind: 'app' } },
  },
  {
    name: 'GET sync-run',
    method: 'GET',
    path: `${base}/sync-runs/:runId`,
    params: { ...tenant, runId: { kind: 'id', ref: 'run' } },
  },
  ...(['pause', 'resume', 'cancel'] as const).map(
    (action): RouteModel => ({
      name: `POST sync-run ${action}`,
      method: 'POST',
      path: `${base}/sync-runs/:runId/${action}`,
      params: { ...tenant, runId: { kind: 'id', ref: 'run' } },
    }),
  ),
  {
    name: 'POST organizations',
    method: 'POST',
    path: `${base}/organizations`,
    params: tenant,
    body: organizationFields,
    weight: 3,
  },
  {
    name: 'PATCH organization',
    method: 'PATCH',
    path: `${base}/organizations/:entityId`,
    params: { ...tenant, entityId: { kind: 'id', ref: 'org' } },
    body: Object.fromEntries(
      Object.entries(organizationFields).map(([k, f]) => [k, { ...f, required: false }]),
    ),
    nonEmptyBody: true,
    weight: 3,
  },
  {
    name: 'DELETE organization',
    method: 'DELETE',
    path: `${base}/organizations/:entityId`,
    params: { ...tenant, entityId: { kind: 'id', ref: 'org' } },
  },
  {
    name: 'POST credit-allocations',
    method: 'POST',
    path: `${base}/credit-allocations`,
    params: tenant,
    body: {
      entityId: idField('org'),
      targetApplication: text(64, fc.constantFrom('crm', 'hr', 'affiliate')),
      amount: creditCount(true, ['availableCredits']),
      availableCredits: creditCount(false),
      expiresAt: instant(),
    },
    fixBody: capAvailable,
    domainFields: ['availableCredits'],
    weight: 3,
  },
  {
    name: 'PATCH credit-allocation',
    method: 'PATCH',
    path: `${base}/credit-allocations/:allocationId`,
    params: { ...tenant, allocationId: { kind: 'id', ref: 'allocation' } },
    body: {
      amount: creditCount(false, ['availableCredits']),
      availableCredits: creditCount(false),
      expiresAt: instant(),
    },
    nonEmptyBody: true,
    fixBody: capAvailable,
    domainFields: ['availableCredits'],
    weight: 2,
  },
  {
    name: 'POST credit-allocation deactivate',
    method: 'POST',
    path: `${base}/credit-allocations/:allocationId/deactivate`,
    params: { ...tenant, allocationId: { kind: 'id', ref: 'allocation' } },
    body: { reason: enumField(['deactivated', 'expired']) },
  },
  {
    name: 'POST memberships',
    method: 'POST',
    path: `${base}/memberships`,
    params: tenant,
    body: {
      userId: { ...idField('membership'), valid: uuid },
      organizationId: idField('org'),
      role: text(100),
    },
    weight: 2,
  },
  {
    name: 'POST api-keys',
    method: 'POST',
    path: '/admin/api-keys',
    params: {},
    body: { name: text(100), tenantId: idField('tenant', { nullable: true, required: false }) },
    weight: 2,
  },
  { name: 'GET api-keys', method: 'GET', path: '/admin/api-keys', params: {} },
  {
    name: 'DELETE api-key',
    method: 'DELETE',
    path: '/admin/api-keys/:keyId',
    params: { keyId: { kind: 'id', ref: 'apiKey' } },
  },
  // The console's routes. A live stream answers as long as its run goes on: the property tests'
  // app closes each after 50 ms.
  {
    name: 'GET tenants',
    method: 'GET',
    path: '/admin/tenants',
    params: {},
    queryFields: Object.keys(TenantListQuery.shape),
  },
  {
    name: 'GET sync-runs',
    method: 'GET',
    path: '/admin/sync-runs',
    params: {},
    queryFields: Object.keys(RunListQuery.shape),
  },
  { name: 'GET system', method: 'GET', path: '/admin/system', params: {} },
  {
    name: 'POST streams detach-group',
    method: 'POST',
    path: '/admin/streams/detach-group',
    params: {},
    body: { stream: text(512), group: text(256) },
  },
  {
    name: 'GET applications',
    method: 'GET',
    path: `${base}/applications`,
    params: tenant,
  },
  {
    name: 'GET sync-run live',
    method: 'GET',
    path: `${base}/sync-runs/:runId/live`,
    params: { ...tenant, runId: { kind: 'id', ref: 'run' } },
  },
  {
    name: 'POST sync-run retry',
    method: 'POST',
    path: `${base}/sync-runs/:runId/retry`,
    params: { ...tenant, runId: { kind: 'id', ref: 'run' } },
  },
  {
    name: 'DELETE membership',
    method: 'DELETE',
    path: `${base}/memberships/:membershipId`,
    params: { ...tenant, membershipId: { kind: 'id', ref: 'membership' } },
  },
];

// ---------------------------------------------------------------------------------------------
// Requests.

/** A path parameter: a row picked when sent, or a literal (URL-encoded unless `raw`). */
export type ParamValue = Ref | { literal: string; raw?: boolean };

export type Body =
  | { kind: 'json'; value: unknown }
  | { kind: 'text'; text: string }
  | { kind: 'bytes'; bytes: number[] };

/** What is wrong with a request, and so what the answer must be. */
export type Fault =
  /** Nothing: any answer but a 5xx (and but a 400 unless a rule across fields says so). */
  | { kind: 'none' }
  /** One field (of the body or the path): if 400, the answer names `fields[0]` or a related one. */
  | {
      kind: 'field';
      where: 'body' | 'params';
      fields: string[];
      /** The value is certainly invalid: the answer must be a 400 (or `alsoAllowed`). */
      mustReject: boolean;
      alsoAllowed?: number[];
      what: string;
    }
  /** The request as a whole (framing, content type, size, credentials, method). */
  | { kind: 'request'; mustReject: boolean; statuses?: number[]; what: string };

export interface GeneratedRequest {
  method: string;
  params: Record<string, ParamValue>;
  query: string;
  headers: Record<string, string>;
  body?: Body;
  /** Send `headers` without the admin key (credential faults). */
  withoutAdminKey?: boolean;
  fault: Fault;
}

const validParam = (model: ParamModel): fc.Arbitrary<ParamValue> =>
  model.kind === 'id'
    ? fc.oneof(
        { weight: 6, arbitrary: fc.nat().map((n) => new Ref(model.ref, n)) },
        { weight: 1, arbitrary: fc.nat().map((n) => new Ref(model.ref, n, true)) },
      )
    : fc.oneof(
        {
          weight: 6,
          arbitrary: fc.constantFrom('crm', 'hr', 'affiliate').map((literal) => ({ literal })),
        },
        { weight: 1, arbitrary: fc.nat().map((n) => new Ref('app', n)) },
      );

/** Well-formed but unknown or someone else's: 404 (or 409 / 2xx), never 400 or 5xx. */
const hostileParam = (model: ParamModel): fc.Arbitrary<ParamValue> =>
  model.kind === 'id'
    ? fc.oneof(
        uuid.map((literal) => ({ literal })),
        fc
          .tuple(
            fc.constantFrom<RefKind>(
              'otherTenant',
              'otherOrg',
              'otherAllocation',
              'org',
              'allocation',
              'membership',
              'run',
              'tenant',
              'app',
            ),
            fc.nat(),
          )
          .map(([kind, n]) => new Ref(kind, n)),
      )
    : fc.oneof(
        fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/).map((literal) => ({ literal })),
        fc.constantFrom('CRM', 'crm-', 'a'.repeat(64), '_', '-').map((literal) => ({ literal })),
        uuid.map((literal) => ({ literal })),
      );

const invalidParamText = (model: ParamModel): fc.Arbitrary<string> =>
  model.kind === 'id'
    ? fc.oneof(
        almostUuid,
        hostileString.filter((s) => s.length > 0 && !UUID_RE.test(s)),
      )
    : fc.oneof(
        hostileString.filter((s) => s.length > 0 && !APP_REF_RE.test(s)),
        fc.constantFrom('a'.repeat(65), 'crm ', 'crm.', 'crm/x', 'é', 'crm%'),
      );

/** Percent-encodes a path segment, lone surrogates as their (invalid) three UTF-8 bytes. */
export function encodeSegment(value: string): string {
  let out = '';
  for (const ch of value) {
    const unit = ch.charCodeAt(0);
    if (ch.length === 1 && unit >= 0xd800 && unit <= 0xdfff) {
      out +=
        `%${(0xe0 | (unit >> 12)).toString(16)}%${(0x80 | ((unit >> 6) & 0x3f)).toString(16)}%${(0x80 | (unit & 0x3f)).toString(16)}`.toUpperCase();
    } else {
      out += encodeURIComponent(ch);
    }
  }
  return out;
}

/** Raw path segments: traversal, broken percent-encoding, NUL, characters URLs must encode. */
const rawSegment = fc.constantFrom(
  '..',
  '.',
  '../..',
  '..%2F..',
  '%2e%2e',
  '%00',
  '%',
  '%zz',
  '%E0%A4%A',
  '%ED%A0%80',
  '%C0%AE%C0%AE',
  '%252e%252e',
  '//',
  ';',
  '*',
  '%20',
  '+',
);

const queryString: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.constant('') },
  {
    weight: 3,
    arbitrary: fc
      .array(
        fc.tuple(
          fc.oneof(
            hostileString,
            fc.constantFrom('__proto__', 'constructor', 'a[b]', 'a[]', 'orgId', 'isEnabled'),
          ),
          fc.oneof(hostileString, fc.constantFrom('', 'true', '1', '[]', '{}')),
        ),
        { minLength: 1, maxLength: 4 },
      )
      .map(
        (pairs) => `?${pairs.map(([k, v]) => `${encodeSegment(k)}=${encodeSegment(v)}`).join('&')}`,
      ),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '?',
      '?&&&',
      '?a=%',
      '?a=%zz',
      '?__proto__[admin]=true',
      '?a=1&a=2&a=3',
      `?q=${'x'.repeat(10_000)}`,
      '?%00=%00',
      "?id=1'%20OR%20'1'='1",
    ),
  },
);

/** The random query string for `route`, without the parameters its schema reads. */
function queryStringFor(route: RouteModel): fc.Arbitrary<string> {
  const named = route.queryFields;
  if (!named?.length) return queryString;
  return queryString.filter(
    (query) => ![...new URLSearchParams(query.slice(1)).keys()].some((key) => named.includes(key)),
  );
}

const jsonHeaders = { 'content-type': 'application/json' };
/** Stands in for a row id when only the size of a body matters. */
const placeholderId = () => '00000000-0000-4000-8000-000000000000';

/** A valid body of the route. */
function validBody(route: RouteModel): fc.Arbitrary<Record<string, unknown>> {
  const fields = route.body ?? {};
  const record = fc.record(
    Object.fromEntries(Object.entries(fields).map(([k, f]) => [k, f.valid])),
    {
      requiredKeys: Object.entries(fields)
        .filter(([, f]) => f.required)
        .map(([k]) => k),
    },
  ) as fc.Arbitrary<Record<string, unknown>>;
  const nonEmpty = route.nonEmptyBody ? record.filter((b) => Object.keys(b).length > 0) : record;
  return route.fixBody ? nonEmpty.map(route.fixBody) : nonEmpty;
}

/** Keys no route's body has. */
const unknownKey = fc
  .oneof(
    fc.string({ maxLength: 12 }),
    anyUnicode,
    fc.constantFrom(
      'admin',
      'tenantId',
      'id',
      'isenabled',
      'IsEnabled',
      '$where',
      'role ',
      'a.b',
      '0',
      '',
    ),
  )
  .filter((k) => !['__proto__', 'constructor', 'prototype'].includes(k));

function bodyFieldFault(route: RouteModel): fc.Arbitrary<Partial<GeneratedRequest>> {
  const fields = route.body ?? {};
  const names = Object.keys(fields);
  const field = fc.constantFrom(...names);
  const replaced = (pick: 'invalid' | 'hostile') =>
    fc
      .tuple(validBody(route), field)
      .chain(([body, name]) => {
        const model = fields[name] as FieldModel;
        return model[pick].map((value) => ({ body, name, value, model }));
      })
      .map(({ body, name, value, model }) => ({
        body: { kind: 'json', value: { ...body, [name]: value } } as Body,
        fault: {
          kind: 'field',
          where: 'body',
          fields: [name, ...(model.related ?? [])],
          mustReject: pick === 'invalid',
          what: `${pick} ${name}`,
        } satisfies Fault,
      }));
  const required = names.filter((n) => fields[n]?.required);
  const missing = required.length
    ? [
        fc.tuple(validBody(route), fc.constantFrom(...required)).map(([body, name]) => {
          const { [name]: _, ...rest } = body;
          return {
            body: { kind: 'json', value: rest } as Body,
            fault: {
              kind: 'field',
              where: 'body',
              fields: [name],
              mustReject: true,
              what: `missing ${name}`,
            } satisfies Fault,
          };
        }),
      ]
    : [];
  const unknown = fc
    .tuple(
      validBody(route),
      unknownKey.filter((k) => !names.includes(k)),
      plainJsonValue(2),
    )
    .map(([body, key, value]) => ({
      body: { kind: 'json', value: { ...body, [key]: value } } as Body,
      fault: {
        kind: 'field',
        where: 'body',
        fields: [key],
        mustReject: true,
        what: `unknown field ${JSON.stringify(key)}`,
      } satisfies Fault,
    }));
  // Near the body limit: one string field (or an unknown one) filling the body almost to it.
  const nearLimit = fc
    .tuple(
      validBody(route),
      fc.constantFrom(...names, 'padding'),
      fc.integer({ min: 1, max: 2_000 }),
    )
    .map(([body, name, slack]) => {
      const without = Buffer.byteLength(toJsonText({ ...body, [name]: '' }, placeholderId));
      const value = 'x'.repeat(Math.max(0, BODY_LIMIT_BYTES - without - slack));
      return {
        body: { kind: 'json', value: { ...body, [name]: value } } as Body,
        fault: {
          kind: 'field',
          where: 'body',
          fields: [name, ...(fields[name]?.related ?? [])],
          // Every field's maximum is far below the limit; a non-string field refuses any string.
          mustReject: true,
          what: `${name} just under the body limit`,
        } satisfies Fault,
      };
    });
  return fc.oneof(
    { weight: 4, arbitrary: replaced('invalid') },
    { weight: 3, arbitrary: replaced('hostile') },
    ...missing.map((arbitrary) => ({ weight: 1, arbitrary })),
    { weight: 2, arbitrary: unknown },
    { weight: 1, arbitrary: nearLimit },
  );
}

function paramFault(route: RouteModel): fc.Arbitrary<Partial<GeneratedRequest>> {
  const names = Object.keys(route.params);
  if (!names.length) return fc.constant({});
  return fc.constantFrom(...names).chain((name) => {
    const model = route.params[name] as ParamModel;
    const invalid = invalidParamText(model).map((text) => {
      // A lone surrogate cannot be percent-encoded as UTF-8: the router refuses the whole URL.
      if (/[\ud800-\udfff]/u.test(text)) {
        return {
          params: { [name]: { literal: text } } as Record<string, ParamValue>,
          fault: {
            kind: 'request',
            mustReject: true,
            statuses: [400],
            what: `undecodable ${name}`,
          } satisfies Fault,
        };
      }
      // Fastify's router: too long a parameter matches no route at all.
      // ... and neither does a dot segment, which URL parsing removes.
      const unroutable =
        encodeSegment(text).length > MAX_PARAM_LENGTH || text === '.' || text === '..';
      return {
        params: { [name]: { literal: text } } as Record<string, ParamValue>,
        fault: {
          kind: 'field',
          where: 'params',
          fields: [name],
          mustReject: true,
          alsoAllowed: unroutable ? [404] : [],
          what: `invalid ${name}`,
        } satisfies Fault,
      };
    });
    const hostile = hostileParam(model).map((value) => ({
      params: { [name]: value } as Record<string, ParamValue>,
      fault: {
        kind: 'field',
        where: 'params',
        fields: [name],
        mustReject: false,
        what: `hostile ${name}`,
      } satisfies Fault,
    }));
    const raw = rawSegment.map((literal) => ({
      params: { [name]: { literal, raw: true } } as Record<string, ParamValue>,
      fault: {
        kind: 'request',
        mustReject: false,
        what: `raw segment ${literal} as ${name}`,
      } satisfies Fault,
    }));
    return fc.oneof(
      { weight: 3, arbitrary: invalid },
      { weight: 2, arbitrary: hostile },
      { weight: 1, arbitrary: raw },
    );
  });
}

const NON_JSON_TYPES = [
  'text/plain',
  'application/xml',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=xyz',
  'application/octet-stream',
  'image/png',
  'text/html; charset=utf-8',
];
const ODD_JSON_TYPES = [
  'application/json; charset=utf-16',
  'application/json; charset=latin1',
  'APPLICATION/JSON',
  'application/json;;',
  'application/json-patch+json',
  'application/vnd.api+json',
  'application/jsonx',
  ' application/json',
  'application/json\u0000',
];

/** Malformed JSON: truncated, wrong tokens, comments, trailing garbage, duplicate keys. */
const malformedJson = (valid: string) =>
  fc.oneof(
    fc.nat().map((n) => valid.slice(0, valid.length > 1 ? n % (valid.length - 1) : 0)),
    fc.constantFrom(
      '{',
      '}',
      '{"isEnabled": tru',
      "{'isEnabled': true}",
      '{isEnabled: true}',
      '{"a": NaN}',
      '{"a": Infinity}',
      '{"a": 0x10}',
      '{"a": 01}',
      '{"a": .5}',
      '{"a": undefined}',
      '{"a": 1,}',
      '{"a": "\\x00"}',
      '{"a": "\\ud800"',
      '/* comment */ {}',
      '{} // comment',
      '{}{}',
      '{} garbage',
      '{"a":"unterminated}',
      '{"a":"\u0001"}',
      'null null',
    ),
    fc.constant(`${valid}x`),
  );

/** JSON a parser may accept though it is unusual: a byte order mark, duplicate keys. */
const oddJson = (valid: string) =>
  fc.constantFrom(`\ufeff${valid}`, `{"a":1,"a":2}`, `${valid}\n\n`, ` \t${valid}`);

function requestFault(route: RouteModel): fc.Arbitrary<Partial<GeneratedRequest>> {
  const parsesBody = route.method !== 'GET';
  const readsBody = route.body !== undefined;
  const json = (value: unknown) => toJsonText(value, placeholderId);
  const bodyText = readsBody ? validBody(route).map(json) : fc.constant('{}');
  const request = (
    what: string,
    mustReject: boolean,
    rest: Partial<GeneratedRequest>,
    statuses?: number[],
  ): Partial<GeneratedRequest> => ({
    ...rest,
    fault: { kind: 'request', what, mustReject, ...(statuses ? { statuses } : {}) },
  });

  const variants: Array<fc.Arbitrary<Partial<GeneratedRequest>>> = [
    // Credentials: none, wrong, another scheme, odd framing.
    fc
      .constantFrom<Record<string, string>>(
        {},
        { authorization: 'Bearer wrong-key-0123456789' },
        { authorization: 'Bearer' },
        { authorization: 'Bearer ' },
        // The right key in a malformed header (the scheme itself is case-insensitive).
        { authorization: 'Bearer test-admin-key-0123456789 extra' },
        { authorization: 'Bearer  test-admin-key-0123456789' },
        { authorization: 'Basic YWRtaW46YWRtaW4=' },
        { authorization: "Bearer ' OR '1'='1" },
        { authorization: `Bearer ${'k'.repeat(10_000)}` },
      )
      .map((headers) =>
        request(`credentials ${JSON.stringify(headers).slice(0, 40)}`, !route.public, {
          headers,
          withoutAdminKey: true,
        }),
      ),
    // A method the path does not serve (no admin route takes PUT; OPTIONS has no CORS handler).
    fc
      .constantFrom('PUT', 'OPTIONS')
      .map((method) => request(`method ${method}`, true, { method })),
    // Bodies where none is expected, or of the wrong type.
    fc.tuple(fc.constantFrom(...NON_JSON_TYPES), bodyText).map(([type, text]) =>
      request(`content-type ${type}`, parsesBody && readsBody, {
        headers: { 'content-type': type },
        body: { kind: 'text', text },
      }),
    ),
    fc.tuple(fc.constantFrom(...ODD_JSON_TYPES), bodyText).map(([type, text]) =>
      request(`content-type ${JSON.stringify(type)}`, false, {
        headers: { 'content-type': type },
        body: { kind: 'text', text },
      }),
    ),
    bodyText.chain(malformedJson).map((text) =>
      request(`malformed JSON ${text.slice(0, 30)}`, parsesBody && text.trim() !== '', {
        headers: jsonHeaders,
        body: { kind: 'text', text },
      }),
    ),
    bodyText.chain(oddJson).map((text) =>
      request(`odd JSON ${JSON.stringify(text.slice(0, 30))}`, false, {
        headers: jsonHeaders,
        body: { kind: 'text', text },
      }),
    ),
    fc.constantFrom('', ' ', '\n').map((text) =>
      request('empty JSON body', parsesBody, {
        headers: jsonHeaders,
        body: { kind: 'text', text },
      }),
    ),
    // Bytes that are not UTF-8: Fastify decodes them as U+FFFD (see the report; not refused).
    fc.array(fc.integer({ min: 0x80, max: 0xff }), { minLength: 1, maxLength: 8 }).map((bad) =>
      request('invalid UTF-8', false, {
        headers: jsonHeaders,
        body: { kind: 'bytes', bytes: [...Buffer.from('{"code":"'), ...bad, ...Buffer.from('"}')] },
      }),
    ),
    // A JSON document that is not an object.
    fc
      .oneof(
        fc.constantFrom<unknown>(null, true, 0, 'text', [], [{}]),
        fc.jsonValue({ maxDepth: 2 }),
      )
      .filter((v) => v === null || typeof v !== 'object' || Array.isArray(v))
      .map((value) =>
        request(`top-level ${JSON.stringify(value).slice(0, 20)}`, parsesBody && readsBody, {
          headers: jsonHeaders,
          body: { kind: 'json', value },
        }),
      ),
    // Deeply nested documents.
    deepJson.map((raw) =>
      request(`nested ${raw.text.length} bytes`, parsesBody && readsBody, {
        headers: jsonHeaders,
        body: { kind: 'text', text: raw.text },
      }),
    ),
    // Prototype pollution: rejected by the JSON parser or ignored, never applied.
    fc
      .constantFrom(
        '{"__proto__":{"isEnabled":true}}',
        '{"constructor":{"prototype":{"isEnabled":true}}}',
        '{"\\u005f_proto__":{"admin":true}}',
      )
      .map((text) =>
        request('prototype pollution', parsesBody && readsBody, {
          headers: jsonHeaders,
          body: { kind: 'text', text },
        }),
      ),
    // Too large: just over the limit, far over, and over in bytes though not in characters.
    fc
      .tuple(fc.integer({ min: 1, max: 200_000 }), fc.constantFrom('x', 'é'), validBody(route))
      .map(([over, ch, body]) => {
        const without = Buffer.byteLength(json({ ...body, padding: '' }));
        const chars = Math.ceil((BODY_LIMIT_BYTES - without + over) / Buffer.byteLength(ch));
        return request(
          `body over the limit by ~${over} bytes`,
          parsesBody,
          {
            headers: jsonHeaders,
            body: { kind: 'json', value: { ...body, padding: ch.repeat(chars) } },
          },
          parsesBody ? [413] : undefined,
        );
      }),
  ];
  return fc.oneof(...variants);
}

/**
 * A request to `route`: valid, or with one fault (in one field, one path parameter, or the
 * request as a whole), always with a random and sometimes hostile query string.
 */
export function requestFor(route: RouteModel): fc.Arbitrary<GeneratedRequest> {
  const params = fc.record(
    Object.fromEntries(Object.entries(route.params).map(([k, m]) => [k, validParam(m)])),
  ) as fc.Arbitrary<Record<string, ParamValue>>;
  const valid: fc.Arbitrary<Partial<GeneratedRequest>> = route.body
    ? validBody(route).map((value) => ({
        body: { kind: 'json', value } as Body,
        fault: { kind: 'none' } as Fault,
      }))
    : fc.constant({ fault: { kind: 'none' } as Fault });
  const faults: Array<{ weight: number; arbitrary: fc.Arbitrary<Partial<GeneratedRequest>> }> = [
    { weight: 2, arbitrary: valid },
    { weight: 3, arbitrary: requestFault(route) },
  ];
  if (route.body) faults.push({ weight: 6, arbitrary: bodyFieldFault(route) });
  if (Object.keys(route.params).length) faults.push({ weight: 3, arbitrary: paramFault(route) });

  const body: fc.Arbitrary<Body | undefined> = route.body
    ? validBody(route).map((value) => ({ kind: 'json', value }))
    : fc.constant(undefined);
  return fc
    .tuple(
      params,
      body,
      fc.oneof(...faults),
      queryStringFor(route),
      route.wildcard ?? fc.constant(undefined),
    )
    .map(([validParams, validBody, variant, query, wildcard]): GeneratedRequest => {
      const body = variant.body ?? validBody;
      return {
        method: variant.method ?? route.method,
        params: {
          ...validParams,
          ...variant.params,
          ...(wildcard !== undefined ? { '*': { literal: wildcard, raw: true } } : {}),
        },
        query,
        headers: {
          ...(body && !variant.headers?.['content-type'] ? jsonHeaders : {}),
          ...variant.headers,
        },
        ...(body ? { body } : {}),
        ...(variant.withoutAdminKey ? { withoutAdminKey: true } : {}),
        fault: variant.fault ?? { kind: 'none' },
      };
    });
}

// ---------------------------------------------------------------------------------------------
// Bull Board (a third-party plugin under /admin/queues): its pages, JSON API and static files.

export const BOARD_QUEUES = [
  'backfill-runs',
  'backfill-credits',
  'backfill-organizations',
  'backfill-memberships',
];
const BOARD = '/admin/queues';

/** A queue name: one of ours (only where the route reads) or a hostile one. */
const hostileQueueName = fc.oneof(
  fc.constantFrom(
    'nope',
    'BACKFILL-RUNS',
    'backfill-runs ',
    'bull',
    '*',
    '__proto__',
    'constructor',
  ),
  hostileString.filter((s) => s.length > 0 && !BOARD_QUEUES.includes(s)),
);
const hostileJobId = fc.oneof(
  uuid,
  fc.constantFrom('0', '-1', '1e9', 'repeat:x', '__proto__', 'id:with:colons', '*', '?'),
  hostileString.filter((s) => s.length > 0),
);
const jobStatus = fc.oneof(
  fc.constantFrom('failed ', 'FAILED', 'all', '*', 'latest', 'active\u0000'),
  hostileString,
);

type Segment = string | fc.Arbitrary<ParamValue>;
const lit = (a: fc.Arbitrary<string>): fc.Arbitrary<ParamValue> =>
  a.map((literal) => ({ literal }));
const ourQueue = lit(fc.constantFrom(...BOARD_QUEUES));
const anyQueue = fc.oneof(ourQueue, lit(hostileQueueName));
/** Job ids: a run's id on the runs queue (a real job), or hostile ones. */
const anyJob = fc.oneof(
  fc.nat().map((n): ParamValue => new Ref('run', n)),
  lit(hostileJobId),
);

/**
 * [method, path segments]. Routes that change jobs or queues get a hostile queue or job (so
 * they 404 and must change nothing); reads get real ones too.
 */
const BOARD_ROUTES: Array<[string, Segment[]]> = [
  ['GET', ['']],
  ['GET', ['/']],
  ['GET', ['/metrics-history']],
  ['GET', ['/job-schedulers']],
  ['GET', ['/api/queues']],
  ['GET', ['/api/redis/stats']],
  ['GET', ['/api/job-schedulers']],
  ['GET', ['/queue/', anyQueue]],
  ['GET', ['/queue/', anyQueue, '/', anyJob]],
  ...['metrics', 'default-job-options', 'workers', 'rate-limit', 'job-data-schema'].map(
    (tail): [string, Segment[]] => ['GET', ['/api/queues/', anyQueue, `/${tail}`]],
  ),
  ['GET', ['/api/queues/', anyQueue, '/', anyJob]],
  ['GET', ['/api/queues/', anyQueue, '/', anyJob, '/logs']],
  ['GET', ['/api/queues/', anyQueue, '/', anyJob, '/flow']],
  // Static files: traversal out of the board's folder.
  [
    'GET',
    [
      '/static/',
      fc
        .constantFrom(
          ...PATH_TRAVERSALS,
          '../../../../package.json',
          '..%2F..%2F..%2F..%2Fpackage.json',
          '%2e%2e/%2e%2e/%2e%2e/%2e%2e/package.json',
          '..%5C..%5C..%5C..%5Cpackage.json',
          '%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd',
          '....//....//....//etc/passwd',
        )
        .map((literal): ParamValue => ({ literal, raw: true })),
    ],
  ],
  ...[
    'pause',
    'resume',
    'empty',
    'obliterate',
    'promote',
    'concurrency',
    'rate-limit',
    'rate-limit/release',
  ].map((tail): [string, Segment[]] => [
    'PUT',
    ['/api/queues/', lit(hostileQueueName), `/${tail}`],
  ]),
  // Every queue at once: refused (403) unless the board is writable.
  ['PUT', ['/api/queues/pause']],
  ['PUT', ['/api/queues/resume']],
  ['POST', ['/api/queues/', lit(hostileQueueName), '/add']],
  ['PUT', ['/api/queues/', anyQueue, '/retry/', lit(jobStatus)]],
  ['PUT', ['/api/queues/', anyQueue, '/clean/', lit(jobStatus)]],
  ['PATCH', ['/api/queues/', anyQueue, '/job-schedulers/', lit(hostileJobId)]],
  ['PUT', ['/api/queues/', anyQueue, '/job-schedulers/', lit(hostileJobId), '/remove']],
  ['PUT', ['/api/queues/', anyQueue, '/job-schedulers/', lit(hostileJobId), '/run']],
  ...['retry', 'clean', 'promote', 'remove-unprocessed-children'].map(
    (tail): [string, Segment[]] => [
      'PUT',
      ['/api/queues/', anyQueue, '/', lit(hostileJobId), `/${tail}`],
    ],
  ),
  ...['update-data', 'delay', 'priority'].map((tail): [string, Segment[]] => [
    'PATCH',
    ['/api/queues/', anyQueue, '/', lit(hostileJobId), `/${tail}`],
  ]),
];

export interface BoardRequest {
  method: string;
  /** Path segments below /admin/queues: literal text, or values to encode when sent. */
  segments: Array<string | ParamValue>;
  query: string;
  headers: Record<string, string>;
  body?: Body;
  withoutAdminKey?: boolean;
  /** Credentials were wrong: must be refused. */
  mustReject: boolean;
}

export const BOARD_PREFIX = BOARD;

/** The board routes these models reach, as Fastify patterns (`:param` for a generated segment). */
export const BOARD_ROUTE_MODELS = BOARD_ROUTES.map(([method, segments]) => ({
  method,
  path: BOARD + segments.map((s) => (typeof s === 'string' ? s : ':param')).join(''),
}));

export const boardRequest: fc.Arbitrary<BoardRequest> = fc
  .tuple(
    fc.constantFrom(...BOARD_ROUTES),
    fc.option(plainJsonValue(3), { nil: undefined }),
    queryString,
    fc.option(
      fc.constantFrom<Record<string, string>>(
        {},
        { authorization: 'Bearer wrong-key-0123456789' },
        { authorization: `Basic ${Buffer.from('admin:wrong').toString('base64')}` },
        {
          authorization: `Basic ${Buffer.from('root:test-admin-key-0123456789').toString('base64')}`,
        },
        { authorization: 'Basic %%%' },
      ),
      { freq: 4, nil: undefined },
    ),
  )
  .chain(([[method, segments], body, query, credentials]) =>
    fc
      .tuple(...segments.map((s) => (typeof s === 'string' ? fc.constant(s) : s)))
      .map((values): BoardRequest => {
        const withBody = body !== undefined && method !== 'GET';
        return {
          method,
          segments: values,
          query,
          headers: { ...(withBody ? jsonHeaders : {}), ...credentials },
          ...(withBody ? { body: { kind: 'json', value: body } as Body } : {}),
          ...(credentials ? { withoutAdminKey: true } : {}),
          mustReject: credentials !== undefined,
        };
      }),
  );
