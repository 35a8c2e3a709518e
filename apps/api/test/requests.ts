/**
 * Requests to a route model, each with what is wrong with it (its fault), so the properties know
 * what to expect: a fault in one field must be answered with a 400 naming that field. The faults
 * of fields come from the models (schema-models.ts); those of the request as a whole (framing,
 * content type, size, credentials, method, path segments) are the same for every route.
 */
import fc from 'fast-check';
import {
  anyUnicode,
  BODY_LIMIT_BYTES,
  deepJson,
  hostileString,
  MAX_PARAM_LENGTH,
  type ParamValue,
  plainJsonValue,
  Ref,
  toJsonText,
} from './hostile-values';
import type { FieldModel, ParamModel, QueryModel, RouteModel } from './schema-models';

export type { RouteModel };

export type Body =
  | { kind: 'json'; value: unknown }
  | { kind: 'text'; text: string }
  | { kind: 'bytes'; bytes: number[] };

/** What is wrong with a request, and so what the answer must be. */
export type Fault =
  /** Nothing: any answer but a 5xx (and but a 400 unless a rule across fields says so). */
  | { kind: 'none' }
  /** One field (of the body, path or query): if 400, the answer names `fields[0]` or a related one. */
  | {
      kind: 'field';
      where: 'body' | 'params' | 'query';
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
  /** The query string's named parameters (a list: a key given twice), ids resolved when sent. */
  queryFields: Array<[string, string | Ref | string[]]>;
  /** Other query text, encoded: noise the route must ignore, or break on without a 5xx. */
  query: string;
  headers: Record<string, string>;
  body?: Body;
  /** Send `headers` without the admin key (credential faults). */
  withoutAdminKey?: boolean;
  fault: Fault;
}

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

export const queryString: fc.Arbitrary<string> = fc.oneof(
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

/**
 * The random query string for `route`, without the parameters its schema reads: those are sent
 * as `queryFields`, valid or with one fault of their own (an over-long `q` is a refused field,
 * not noise).
 */
function queryStringFor(route: RouteModel): fc.Arbitrary<string> {
  const named = Object.keys(route.query ?? {});
  if (!named.length) return queryString;
  return queryString.filter(
    (query) => ![...new URLSearchParams(query.slice(1)).keys()].some((key) => named.includes(key)),
  );
}

/** The query string of a request: its named parameters, then the noise. */
export function queryText(request: GeneratedRequest, resolve: (ref: Ref) => string): string {
  const pairs = request.queryFields.flatMap(([key, value]) =>
    (Array.isArray(value) ? value : [value]).map(
      (v) => `${encodeSegment(key)}=${encodeSegment(v instanceof Ref ? resolve(v) : v)}`,
    ),
  );
  const noise = request.query.replace(/^\?/, '');
  const all = [...pairs, ...(noise ? [noise] : [])].join('&');
  return all || request.query ? `?${all}` : '';
}

/** Some of the route's query parameters, each with a valid value. */
function validQuery(route: RouteModel): fc.Arbitrary<Array<[string, string | Ref]>> {
  const models = Object.entries(route.query ?? {});
  return fc
    .record(Object.fromEntries(models.map(([k, m]) => [k, m.valid])), { requiredKeys: [] })
    .map((record) => Object.entries(record) as Array<[string, string | Ref]>);
}

/** Valid query parameters but one: invalid (a 400 naming it) or hostile (a 400 names it, if any). */
function queryFieldFault(route: RouteModel): fc.Arbitrary<Partial<GeneratedRequest>> {
  const models = route.query ?? {};
  return fc
    .tuple(validQuery(route), fc.constantFrom(...Object.keys(models)), fc.boolean())
    .chain(([valid, name, certain]) => {
      const model = models[name] as QueryModel;
      const others = valid.filter(([key]) => key !== name);
      return (certain ? model.invalid : model.hostile).map(
        (value): Partial<GeneratedRequest> => ({
          queryFields: [...others, [name, value]],
          fault: {
            kind: 'field',
            where: 'query',
            fields: [name],
            mustReject: certain,
            what: `${certain ? 'invalid' : 'hostile'} ${name} ${JSON.stringify(value).slice(0, 40)}`,
          },
        }),
      );
    });
}

export const jsonHeaders = { 'content-type': 'application/json' };
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
        mustReject: route.strictBody === true,
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
          // A bounded text field's maximum is far below the limit; another refuses any string.
          mustReject:
            name === 'padding' ? route.strictBody === true : fields[name]?.refusesHugeText === true,
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
    const invalid = model.invalid.map((text) => {
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
    const hostile = model.hostile.map((value) => ({
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
 * A request to `route`: valid, or with one fault (in one field of the body, the path or the
 * query string, or in the request as a whole), always with random and sometimes hostile query
 * text besides the parameters the route reads.
 */
export function requestFor(route: RouteModel): fc.Arbitrary<GeneratedRequest> {
  const params = fc.record(
    Object.fromEntries(Object.entries(route.params).map(([k, m]) => [k, m.valid])),
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
  if (Object.keys(route.query ?? {}).length) {
    faults.push({ weight: 3, arbitrary: queryFieldFault(route) });
  }

  const body: fc.Arbitrary<Body | undefined> = route.body
    ? validBody(route).map((value) => ({ kind: 'json', value }))
    : fc.constant(undefined);
  return fc
    .tuple(
      params,
      body,
      fc.oneof(...faults),
      queryStringFor(route),
      validQuery(route),
      route.wildcard ?? fc.constant(undefined),
    )
    .map(([validParams, validBody, variant, query, queryFields, wildcard]): GeneratedRequest => {
      const body = variant.body ?? validBody;
      return {
        method: variant.method ?? route.method,
        params: {
          ...validParams,
          ...variant.params,
          ...(wildcard !== undefined ? { '*': { literal: wildcard, raw: true } } : {}),
        },
        queryFields: variant.queryFields ?? queryFields,
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
