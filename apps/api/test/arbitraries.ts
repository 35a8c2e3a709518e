/**
 * The property tests' route models (properties.test.ts). The routes of the table (`ROUTES` in the
 * contracts) are modelled from their schemas (schema-models.ts): every field of their params,
 * query string and body, valid and invalid, with no list here. This file holds only what the
 * schemas cannot say, each with why: which rows and applications the seeded database has, the
 * refinements and rules across fields the schemas check in code, the statuses a handler may
 * answer for a rule against stored rows, and the routes outside the table (probes, pages).
 */
import {
  BUILT_IN_RESOURCES,
  MAX_FRACTION_DIGITS,
  RESOURCES,
  type RouteName,
  ROUTES as TABLE,
} from '@historical-sync/contracts';
import fc from 'fast-check';
import {
  blankString,
  hostileString,
  PATH_TRAVERSALS,
  Ref,
  unstorableString,
  validDateTime,
} from './hostile-values';
import type { RouteModel } from './requests';
import { type RouteHints, routeModel, type SchemaKnowledge } from './schema-models';

/** The applications the seed creates: a field naming one by code can only be valid with these. */
const APP_CODES = ['crm', 'hr', 'affiliate'];

const KNOWLEDGE: SchemaKnowledge = {
  // A UUID names a row of one kind, by the field's name; the properties pick a seeded or created
  // row of that kind when the request is sent (a random UUID would only ever be "not found").
  rows: {
    orgId: 'tenant',
    tenantId: 'tenant',
    runId: 'run',
    entityId: 'org',
    parentId: 'org',
    organizationId: 'org',
    allocationId: 'allocation',
    membershipId: 'membership',
    keyId: 'apiKey',
  },
  fields: {
    // An application reference is a code or an id (the schema says only which characters).
    appId: {
      valid: fc.oneof(
        { weight: 6, arbitrary: fc.constantFrom(...APP_CODES) },
        { weight: 1, arbitrary: fc.nat().map((n) => new Ref('app', n)) },
      ),
    },
    appCode: {
      valid: fc.oneof(
        { weight: 6, arbitrary: fc.constantFrom(...APP_CODES) },
        { weight: 1, arbitrary: fc.nat().map((n) => new Ref('app', n)) },
      ),
    },
    // Free text to the schema; an allocation for an application the database lacks is refused.
    targetApplication: { valid: fc.constantFrom(...APP_CODES) },
  },
  // Every free-text field refines its text to what Postgres stores as sent (no NUL, no unpaired
  // surrogate: `storableText` in the contracts' fields.ts): a refinement JSON Schema cannot carry.
  textRefuses: unstorableString,
  // ... and trims before counting its minimum length, so blank text is too short.
  requiredTextRefuses: blankString,
};

/** A valid date-time's milliseconds with `extra` more digits: `.123` + `4` = `.1234`. */
const withMoreDigits = (extra: fc.Arbitrary<string>) =>
  fc.tuple(validDateTime, extra).map(([s, digits]) => `${s.slice(0, 23)}${digits}${s.slice(23)}`);

/** availableCredits at most amount: the handler's rule across the two fields. */
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

const credits: RouteHints = {
  fixBody: capAvailable,
  // Checked against the stored row too (an update's amount below its availableCredits).
  domainFields: ['availableCredits'],
  fields: { amount: { related: ['availableCredits'] } },
};

/** Per route of the table: what its schemas cannot say, and its share of the runs. */
const HINTS: Partial<Record<RouteName, RouteHints>> = {
  toggleApplication: { weight: 2 },
  syncHistorical: {
    fields: {
      // The body refines "at least one flag true": never false in a valid body, so that the one
      // changed field of a fault cannot deselect every resource.
      ...Object.fromEntries(
        BUILT_IN_RESOURCES.map((entry) => [entry.requestFlag, { valid: fc.constant(true) }]),
      ),
      // Refined to Postgres's microseconds: up to six fractional digits, no more.
      sinceDate: {
        alsoValid: withMoreDigits(
          fc.stringMatching(new RegExp(`^\\d{1,${MAX_FRACTION_DIGITS - 3}}$`)),
        ),
        alsoInvalid: withMoreDigits(fc.stringMatching(/^\d{4,9}$/)),
      },
    },
    weight: 3,
  },
  verifyApplication: {
    fields: {
      // Strings to the schema, refined to the resources' names.
      resources: {
        valid: fc.subarray([...RESOURCES], { minLength: 1 }),
        alsoInvalid: fc.array(
          hostileString.filter((s) => !(RESOURCES as readonly string[]).includes(s)),
          { minLength: 1, maxLength: RESOURCES.length },
        ),
      },
    },
  },
  // A cursor is opaque: only a page's nextCursor is one, other text the schema takes is refused
  // naming it.
  listRuns: { domainFields: ['cursor'] },
  listTenants: { domainFields: ['cursor'] },
  createOrganization: { weight: 3 },
  // Refined to name at least one field (so are allocation updates).
  updateOrganization: { nonEmptyBody: true, weight: 3 },
  allocateCredits: { ...credits, weight: 3 },
  updateAllocation: { ...credits, nonEmptyBody: true, weight: 2 },
  addMembership: { weight: 2 },
  createApiKey: { weight: 2 },
};

/** Routes outside the table: probes and pages, with no schemas to derive from. */
const OTHER_ROUTES: RouteModel[] = [
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
];

/** Every route the properties exercise: the table's, modelled from its schemas, and the others. */
export const ROUTE_MODELS: RouteModel[] = [
  ...OTHER_ROUTES,
  ...Object.entries(TABLE).map(([name, spec]) =>
    routeModel(name, spec, KNOWLEDGE, HINTS[name as RouteName]),
  ),
];
