/**
 * Request models derived from the route table's zod schemas: for each field of a route's params,
 * query string and body, the values its schema accepts and the kinds it refuses (wrong type,
 * out of range, too long, bad format, bad enum, missing, unknown key). The schema is read as JSON
 * Schema (`z.toJSONSchema`, input side: a field with a default is optional), so a field added to
 * a schema is generated, valid and invalid, with no edit here.
 *
 * What a schema cannot say (which rows exist, refinements, rules across fields) comes in as
 * `SchemaKnowledge` from arbitraries.ts. A schema shape this module cannot generate for throws,
 * naming the route and field, rather than leaving the field untested.
 */
import type { RouteSpec } from '@historical-sync/contracts';
import fc from 'fast-check';
import { z } from 'zod';
import {
  almostUuid,
  BODY_LIMIT_BYTES,
  blankString,
  dateTimeCandidate,
  extremeDateTime,
  hostileString,
  invalidDateTime,
  longString,
  nonIntegerNumber,
  oddIntegerTokens,
  type ParamValue,
  Ref,
  type RefKind,
  storableHostileString,
  UUID_RE,
  uuid,
  validDateTime,
  wrongType,
} from './hostile-values';

/** What a body field accepts and what it must refuse. */
export interface FieldModel {
  /** Values the API accepts here. */
  valid: fc.Arbitrary<unknown>;
  /** Values it must refuse: a body differing from a valid one only here is a 400 naming it. */
  invalid: fc.Arbitrary<unknown>;
  /** Hostile values it may accept or refuse (refused: a 400 naming this field or `related`). */
  hostile: fc.Arbitrary<unknown>;
  required: boolean;
  /** Fields a rule across fields may name instead (e.g. `availableCredits` exceeding `amount`). */
  related?: string[];
  /** A string of ~64 KiB here is refused (not text, or text bounded far below the body limit). */
  refusesHugeText: boolean;
}

/** A path parameter: values resolved or encoded when the request is sent. */
export interface ParamModel {
  valid: fc.Arbitrary<ParamValue>;
  /** Well-formed but unknown or someone else's: 404 (or 409 / 2xx), never 400 or 5xx. */
  hostile: fc.Arbitrary<ParamValue>;
  /** Text the schema refuses: a 400 naming the parameter. */
  invalid: fc.Arbitrary<string>;
}

/** A query-string parameter: text (or a row's id) the URL carries; repeated keys are arrays. */
export interface QueryModel {
  valid: fc.Arbitrary<string | Ref>;
  invalid: fc.Arbitrary<string | string[]>;
  hostile: fc.Arbitrary<string>;
}

/** What the schema cannot tell about a field: the values that exist, a refinement's refusals. */
export interface FieldHints {
  /** Replaces the values derived as valid (e.g. the applications the database has). */
  valid?: fc.Arbitrary<unknown>;
  /** More values a refinement accepts. */
  alsoValid?: fc.Arbitrary<unknown>;
  /** More values a refinement refuses. */
  alsoInvalid?: fc.Arbitrary<unknown>;
  related?: string[];
}

export interface SchemaKnowledge {
  /** The kind of seeded row a UUID field names, by field name (any UUID when not listed). */
  rows: Record<string, RefKind>;
  /** Hints by field name, for every route. */
  fields: Record<string, FieldHints>;
  /** Refused by every free-text body field, whatever its bounds (a shared refinement). */
  textRefuses: fc.Arbitrary<string>;
  /** Refused by every free-text body field that has a minimum length. */
  requiredTextRefuses: fc.Arbitrary<string>;
}

export interface RouteModel {
  /** The route table's name for it, or `METHOD path` for a route outside the table. */
  name: string;
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  /** Fastify path, `:name` for params. */
  path: string;
  params: Record<string, ParamModel>;
  /** The query string's named parameters (others are ignored by the route). */
  query?: Record<string, QueryModel>;
  /** The body's fields, when the route reads a body. */
  body?: Record<string, FieldModel>;
  /** A body key the schema does not name is refused (a strict object). */
  strictBody?: boolean;
  /** The body must name at least one field (PATCH). */
  nonEmptyBody?: boolean;
  /** Fix up a valid body (e.g. availableCredits <= amount). */
  fixBody?: (body: Record<string, unknown>) => Record<string, unknown>;
  /** Not behind the admin key. */
  public?: boolean;
  /** What a trailing `*` in `path` stands for (sent as is, e.g. a file under a static folder). */
  wildcard?: fc.Arbitrary<string>;
  /** Fields a rule across the request and the stored rows may name (checked after the schema). */
  domainFields?: string[];
  /** Runs of fast-check relative to the others (routes with bodies explore more). */
  weight?: number;
}

// ---------------------------------------------------------------------------------------------
// Reading a schema.

/** The parts of JSON Schema that zod writes for the route table's request schemas. */
interface Js {
  type?: string;
  format?: string;
  pattern?: string;
  enum?: unknown[];
  anyOf?: Js[];
  items?: Js;
  properties?: Record<string, Js>;
  required?: string[];
  additionalProperties?: unknown;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
}

/** What a field takes, as far as generating values goes. */
export type Shape =
  | { kind: 'boolean' }
  | { kind: 'integer'; min: number; max: number }
  | { kind: 'uuid' }
  /** An ISO-8601 date-time with an offset, or also a plain date. */
  | { kind: 'instant'; dateToo: boolean }
  | { kind: 'enum'; values: string[] }
  | { kind: 'text'; min: number; max?: number; pattern?: RegExp }
  | { kind: 'array'; items: Shape; min: number; max?: number };

/** The properties of an object schema, which are required, and whether others are refused. */
export function objectOf(schema: z.ZodType, where: string) {
  const js = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as Js;
  if (js.type !== 'object' || !js.properties) throw new Error(`${where}: not an object schema`);
  const required = new Set(js.required ?? []);
  return {
    fields: Object.entries(js.properties).map(([name, field]) => ({
      name,
      required: required.has(name),
      ...shapeOf(field, `${where}.${name}`),
    })),
    strict: js.additionalProperties === false,
  };
}

function shapeOf(js: Js, where: string): { shape: Shape; nullable: boolean } {
  if (js.anyOf) {
    const branches = js.anyOf.flatMap((branch) => branch.anyOf ?? [branch]);
    const nullable = branches.some((branch) => branch.type === 'null');
    const rest = branches.filter((branch) => branch.type !== 'null');
    const formats = rest.map((branch) => branch.format);
    if (rest.length === 1) return { shape: shapeOf(rest[0] as Js, where).shape, nullable };
    if (formats.length === 2 && formats.includes('date-time') && formats.includes('date')) {
      return { shape: { kind: 'instant', dateToo: true }, nullable };
    }
    throw new Error(`${where}: no generator for a union ${JSON.stringify(js).slice(0, 200)}`);
  }
  const shape = ((): Shape | undefined => {
    switch (js.type) {
      case 'boolean':
        return { kind: 'boolean' };
      case 'integer':
        return {
          kind: 'integer',
          min: js.minimum ?? Number.MIN_SAFE_INTEGER,
          max: js.maximum ?? Number.MAX_SAFE_INTEGER,
        };
      case 'array':
        return js.items
          ? {
              kind: 'array',
              items: shapeOf(js.items, `${where}[]`).shape,
              min: js.minItems ?? 0,
              ...(js.maxItems !== undefined ? { max: js.maxItems } : {}),
            }
          : undefined;
      case 'string':
        if (js.enum) return { kind: 'enum', values: js.enum.map(String) };
        if (js.format === 'uuid') return { kind: 'uuid' };
        if (js.format === 'date-time') return { kind: 'instant', dateToo: false };
        if (js.format !== undefined) return undefined;
        return {
          kind: 'text',
          min: js.minLength ?? 0,
          ...(js.maxLength !== undefined ? { max: js.maxLength } : {}),
          ...(js.pattern !== undefined ? { pattern: new RegExp(js.pattern) } : {}),
        };
    }
    return undefined;
  })();
  if (!shape) throw new Error(`${where}: no generator for ${JSON.stringify(js).slice(0, 200)}`);
  return { shape, nullable: false };
}

// ---------------------------------------------------------------------------------------------
// Values of a shape.

const ROW_KINDS: RefKind[] = [
  'tenant',
  'otherTenant',
  'org',
  'otherOrg',
  'allocation',
  'otherAllocation',
  'membership',
  'run',
  'app',
  'apiKey',
];

const inRange = (n: number, min: number, max: number) =>
  Number.isSafeInteger(n) && n >= min && n <= max;

/** Integers just and far outside [min, max], within the safe range. */
const outOfRange = (min: number, max: number) =>
  fc
    .oneof(
      fc.constantFrom(min - 1, max + 1, -1, 0, 2 ** 31, -(2 ** 31)),
      fc.integer({ min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER }),
    )
    .filter((n) => Number.isSafeInteger(n) && !inRange(n, min, max));

/** Text matching `pattern` within the bounds. */
const matching = (shape: { min: number; max?: number; pattern: RegExp }) =>
  fc
    .stringMatching(shape.pattern)
    .filter((s) => s.length >= shape.min && (shape.max === undefined || s.length <= shape.max));

const ID_SAMPLES = {
  zero: '00000000-0000-0000-0000-000000000000',
  max: 'FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF',
};

/** The valid, invalid and hostile values of one field, nulls aside. */
function valuesOf(
  shape: Shape,
  name: string,
  knowledge: SchemaKnowledge,
  part: 'body' | 'params' | 'query',
): {
  valid: fc.Arbitrary<unknown>;
  invalid: fc.Arbitrary<unknown>;
  hostile: fc.Arbitrary<unknown>;
} {
  switch (shape.kind) {
    case 'boolean':
      return { valid: fc.boolean(), invalid: wrongType('boolean'), hostile: fc.boolean() };
    case 'integer': {
      const { min, max } = shape;
      return {
        valid: fc.oneof(
          fc.integer({ min, max: Math.min(max, min + 1_000_000) }),
          fc.constantFrom(min, max),
        ),
        invalid: fc.oneof(wrongType('number'), outOfRange(min, max), nonIntegerNumber),
        hostile: fc.oneof(oddIntegerTokens, fc.integer()),
      };
    }
    case 'uuid': {
      const row = knowledge.rows[name];
      return {
        // A row of the kind the field names (sometimes in upper case, still a UUID).
        valid: row
          ? fc.oneof(
              { weight: 6, arbitrary: fc.nat().map((n) => new Ref(row, n)) },
              { weight: 1, arbitrary: fc.nat().map((n) => new Ref(row, n, true)) },
            )
          : uuid,
        invalid: fc.oneof(
          wrongType('string'),
          almostUuid,
          hostileString.filter((s) => !UUID_RE.test(s)),
        ),
        // Another kind of row, another tenant's row, or no row: 404 (or 409), never 400.
        hostile: fc.oneof(
          uuid,
          fc.tuple(fc.constantFrom(...ROW_KINDS), fc.nat()).map(([kind, n]) => new Ref(kind, n)),
          fc.constantFrom(ID_SAMPLES.zero, ID_SAMPLES.max),
        ),
      };
    }
    case 'instant':
      return {
        valid: shape.dateToo
          ? fc.oneof(
              validDateTime,
              validDateTime.map((s) => s.slice(0, 10)),
            )
          : validDateTime,
        invalid: fc.oneof(
          wrongType('string'),
          invalidDateTime,
          ...(shape.dateToo ? [] : [validDateTime.map((s) => s.slice(0, 10))]),
        ),
        hostile: fc.oneof(
          dateTimeCandidate,
          extremeDateTime,
          hostileString,
          ...(shape.dateToo ? [dateTimeCandidate.map((s) => s.slice(0, 10))] : []),
        ),
      };
    case 'enum': {
      const { values } = shape;
      return {
        valid: fc.constantFrom(...values),
        invalid: fc.oneof(
          wrongType('string'),
          fc
            .oneof(
              ...values.map((v) =>
                fc.constantFrom(v.toUpperCase(), ` ${v}`, `${v}\u0000`, `${v}s`),
              ),
              hostileString,
            )
            .filter((s) => !values.includes(s)),
        ),
        hostile: hostileString,
      };
    }
    case 'text': {
      const { min, max, pattern } = shape;
      const tooLong =
        max === undefined
          ? []
          : pattern
            ? [matching({ min: 1, pattern }).map((s) => s.repeat(Math.ceil((max + 1) / s.length)))]
            : [longString(max + 1, max + 300).map((s) => `${s}x`)];
      if (pattern) {
        return {
          valid: matching({ min, ...(max !== undefined ? { max } : {}), pattern }),
          invalid: fc
            .oneof(
              wrongType('string'),
              ...tooLong,
              // Near misses (a valid value and one character more) and anything else.
              fc
                .tuple(
                  matching({ min, pattern }),
                  fc.constantFrom(' ', '.', '/', 'é', '%', '\u0000'),
                )
                .map(([s, ch]) => `${s}${ch}`),
              hostileString,
            )
            .filter((v) => typeof v !== 'string' || !pattern.test(v) || v.length < min),
          hostile: matching({ min, ...(max !== undefined ? { max } : {}), pattern }),
        };
      }
      // Free text: a body field also refuses what the shared refinements refuse.
      const body = part === 'body';
      return {
        valid: fc
          .oneof(storableHostileString, fc.string({ maxLength: 20 }))
          .filter((s) => s.trim().length >= min && (max === undefined || s.length <= max)),
        invalid: fc.oneof(
          wrongType('string'),
          ...tooLong,
          ...(body ? [knowledge.textRefuses] : []),
          ...(body && min > 0 ? [knowledge.requiredTextRefuses] : []),
          ...(min > 0 ? [fc.constant('')] : []),
        ),
        hostile: fc.oneof(
          hostileString,
          ...(max !== undefined ? [longString(Math.max(0, max - 2), max + 2)] : []),
          ...(min === 0 ? [blankString] : []),
        ),
      };
    }
    case 'array': {
      const items = valuesOf(shape.items, name, knowledge, part);
      const { min, max } = shape;
      const bounds = { minLength: min, ...(max !== undefined ? { maxLength: max } : {}) };
      return {
        valid: fc.array(items.valid, bounds),
        invalid: fc.oneof(
          wrongType('array'),
          ...(min > 0 ? [fc.constant([])] : []),
          ...(max !== undefined
            ? [fc.array(items.valid, { minLength: max + 1, maxLength: max + 3 })]
            : []),
          fc.array(items.invalid, { minLength: Math.max(1, min), maxLength: Math.max(1, min) }),
        ),
        hostile: fc.array(items.hostile, { maxLength: (max ?? 3) + 1 }),
      };
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Models of a route's parts.

/** The body's fields. */
export function bodyModels(
  schema: z.ZodType,
  where: string,
  knowledge: SchemaKnowledge,
  hints: Record<string, FieldHints> = {},
): { fields: Record<string, FieldModel>; strict: boolean } {
  const { fields, strict } = objectOf(schema, where);
  return {
    strict,
    fields: Object.fromEntries(
      fields.map(({ name, required, shape, nullable }) => {
        const hint = { ...knowledge.fields[name], ...hints[name] };
        const derived = valuesOf(shape, name, knowledge, 'body');
        const invalid = nullable ? derived.invalid.filter((v) => v !== null) : derived.invalid;
        const model: FieldModel = {
          valid: fc.oneof(
            { weight: 5, arbitrary: hint.valid ?? derived.valid },
            ...(hint.alsoValid ? [{ weight: 2, arbitrary: hint.alsoValid }] : []),
            ...(nullable ? [{ weight: 1, arbitrary: fc.constant(null) }] : []),
          ),
          invalid: hint.alsoInvalid ? fc.oneof(invalid, hint.alsoInvalid) : invalid,
          hostile: derived.hostile,
          required,
          ...(hint.related ? { related: hint.related } : {}),
          refusesHugeText:
            shape.kind !== 'text' || (shape.max !== undefined && shape.max < BODY_LIMIT_BYTES / 2),
        };
        return [name, model];
      }),
    ),
  };
}

/** A value as a path segment: ids of rows stay refs, text is a literal. */
const asParam = (value: unknown): ParamValue =>
  value instanceof Ref ? value : { literal: String(value) };

/** The path parameters. */
export function paramModels(
  schema: z.ZodType,
  where: string,
  knowledge: SchemaKnowledge,
): Record<string, ParamModel> {
  return Object.fromEntries(
    objectOf(schema, where).fields.map(({ name, shape }) => {
      if (shape.kind !== 'uuid' && shape.kind !== 'text') {
        throw new Error(`${where}.${name}: no generator for a ${shape.kind} path parameter`);
      }
      const derived = valuesOf(shape, name, knowledge, 'params');
      const hint = knowledge.fields[name];
      const model: ParamModel = {
        valid: (hint?.valid ?? derived.valid).map(asParam),
        hostile: derived.hostile.map(asParam),
        // An empty segment is another path, not this parameter.
        invalid: derived.invalid.filter((v): v is string => typeof v === 'string' && v.length > 0),
      };
      return [name, model];
    }),
  );
}

/** The query string's named parameters: text, as a URL carries it (numbers are read from text). */
export function queryModels(
  schema: z.ZodType,
  where: string,
  knowledge: SchemaKnowledge,
): Record<string, QueryModel> {
  return Object.fromEntries(
    objectOf(schema, where).fields.map(({ name, shape }) => {
      const text = (v: unknown) => (v instanceof Ref ? v : String(v));
      const derived = valuesOf(shape, name, knowledge, 'query');
      const hint = knowledge.fields[name];
      const valid = (hint?.valid ?? derived.valid).map(text);
      const textOf = (values: fc.Arbitrary<unknown>) =>
        values.filter((v): v is string => typeof v === 'string');
      let model: QueryModel;
      if (shape.kind === 'integer') {
        // Read with Number(): text that is not a whole number in range, whatever it looks like.
        const { min, max } = shape;
        model = {
          valid,
          invalid: fc
            .oneof(
              outOfRange(min, max).map(String),
              fc.constantFrom('', 'abc', 'NaN', 'Infinity', '1e400', '1.5', '0x', 'null', '[]'),
              hostileString,
            )
            .filter((s) => !inRange(Number(s), min, max)),
          // Read as a number in range though written oddly: accepted or refused, never a 500.
          hostile: fc.constantFrom(` ${min}`, `0${min}`, `${min}.0`, `${max}e0`, '+1', '0b1'),
        };
      } else if (shape.kind === 'uuid' || shape.kind === 'text' || shape.kind === 'enum') {
        model = {
          valid,
          invalid: textOf(derived.invalid),
          hostile: textOf(derived.hostile),
        };
      } else {
        throw new Error(`${where}.${name}: no generator for a ${shape.kind} query parameter`);
      }
      // A key given twice is a list, which no scalar parameter takes (a row's id as any UUID).
      const repeated = fc
        .tuple(valid, valid)
        .map((pair) => pair.map((v) => (v instanceof Ref ? ID_SAMPLES.zero : v)));
      return [name, { ...model, invalid: fc.oneof(model.invalid, repeated) }];
    }),
  );
}

/** What a route's schemas cannot say: the rules its handler applies after them, the run budget. */
export type RouteHints = Pick<
  RouteModel,
  'nonEmptyBody' | 'fixBody' | 'domainFields' | 'weight'
> & {
  fields?: Record<string, FieldHints>;
};

/** The model of a route of the table: its params, query string and body from its schemas. */
export function routeModel(
  name: string,
  spec: RouteSpec,
  knowledge: SchemaKnowledge,
  { fields, ...hints }: RouteHints = {},
): RouteModel {
  const body = spec.body ? bodyModels(spec.body, `${name}.body`, knowledge, fields) : undefined;
  return {
    name,
    method: spec.method,
    path: spec.path,
    params: spec.params ? paramModels(spec.params, `${name}.params`, knowledge) : {},
    ...(spec.querystring
      ? { query: queryModels(spec.querystring, `${name}.querystring`, knowledge) }
      : {}),
    ...(body ? { body: body.fields, strictBody: body.strict } : {}),
    ...hints,
  };
}
