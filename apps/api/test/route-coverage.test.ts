/**
 * Every route Fastify registers is in the OpenAPI document with a response schema for each status
 * it can answer, and has a model in the property tests (arbitraries.ts) generating the fields its
 * schemas read, and every model is a registered route. Third-party pages (Bull Board, Swagger UI's files) hide their own routes
 * from the document; they must still be modelled. A route added without a schema fails here,
 * naming it (the second test proves it).
 */
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { DOCS_PATH } from '../src/plugins/api-docs';
import { BOARD_PATH } from '../src/plugins/bull-board';
import { CONSOLE_PATH } from '../src/plugins/console';
import type { RegisteredRoute } from '../src/plugins/route-catalog';
import { BOARD_ROUTE_MODELS, ROUTES } from './arbitraries';
import { type ApiTestContext, auth, createApiTestContext } from './helpers';

interface Operation {
  security?: unknown[];
  responses?: Record<string, unknown>;
}
interface OpenApiDocument {
  paths: Record<string, Record<string, Operation>>;
}

/** `/a/:b/*` and `/a/{b}/x` alike: parameters and wildcards compare equal whatever their names. */
const shape = (path: string) => path.replace(/:\w+|\{\w+\}|\*/g, ':').replace(/(.)\/$/, '$1');
const key = (method: string, path: string) => `${method} ${shape(path)}`;

/**
 * The statuses a route can answer from what guards it and what it reads: every route may fail
 * (500); a keyed one refuses keys (401), scopes (403) and floods (429); one that reads params
 * refuses them (400); one whose method carries a body (all but GET: Fastify reads a body sent to
 * it whether or not the route takes one) refuses it (400), its size (413) and its type (415).
 */
function impliedStatuses(route: RegisteredRoute, operation: Operation): number[] {
  const schema = route.schema ?? {};
  const keyed = operation.security === undefined || operation.security.length > 0;
  return [
    500,
    ...(keyed ? [401, 403, 429] : []),
    ...(schema.params || schema.querystring || route.method !== 'GET' ? [400] : []),
    ...(route.method !== 'GET' ? [413, 415] : []),
  ];
}

/** What is wrong with the routes' coverage, one line per problem naming the route. */
function coverageProblems(app: FastifyInstance, document: OpenApiDocument): string[] {
  const problems: string[] = [];
  // HEAD answers as its GET does (Fastify adds one per GET): the GET is what is checked.
  const routes = app.registeredRoutes.filter((route) => route.method !== 'HEAD');
  const modelled = new Set([
    ...ROUTES.map((model) => key(model.method, model.path)),
    ...BOARD_ROUTE_MODELS.map((model) => key(model.method, model.path)),
  ]);
  const operations = new Map(
    Object.entries(document.paths).flatMap(([path, methods]) =>
      Object.entries(methods).map(([method, op]) => [key(method.toUpperCase(), path), op] as const),
    ),
  );
  for (const route of routes) {
    const name = `${route.method} ${route.url}`;
    if (!modelled.has(key(route.method, route.url))) {
      problems.push(`${name}: no model in the property tests (arbitraries.ts)`);
    }
    if (route.schema?.hide) {
      const thirdParty = [BOARD_PATH, DOCS_PATH, CONSOLE_PATH].some((prefix) =>
        route.url.startsWith(prefix),
      );
      if (!thirdParty) problems.push(`${name}: hidden from the document`);
      continue;
    }
    const operation = operations.get(key(route.method, route.url));
    if (!operation) {
      problems.push(`${name}: missing from the OpenAPI document`);
      continue;
    }
    const declared = Object.keys((route.schema?.response as object | undefined) ?? {}).map(Number);
    if (!declared.some((status) => status >= 200 && status < 300)) {
      problems.push(`${name}: no response schema for a 2xx answer`);
    }
    for (const status of impliedStatuses(route, operation)) {
      if (!declared.includes(status)) problems.push(`${name}: no response schema for ${status}`);
    }
    for (const status of declared) {
      if (!operation.responses?.[String(status)]) {
        problems.push(`${name}: ${status} is not in the document`);
      }
    }
  }
  // A model generates every field the schema reads, and no other (a field added to a schema
  // without a generator would go untested).
  for (const model of ROUTES) {
    const route = routes.find((r) => r.method === model.method && r.url === model.path);
    const fields = (schema: unknown) =>
      schema instanceof z.ZodObject ? Object.keys(schema.shape).sort() : [];
    for (const [part, modelled] of [
      ['params', Object.keys(model.params)],
      ['body', Object.keys(model.body ?? {})],
    ] as const) {
      const declared = fields(route?.schema?.[part]);
      if (route && JSON.stringify(declared) !== JSON.stringify([...modelled].sort())) {
        problems.push(
          `${model.method} ${model.path}: ${part} fields modelled [${[...modelled].sort()}], schema has [${declared}]`,
        );
      }
    }
  }
  const registered = new Set(routes.map((route) => key(route.method, route.url)));
  for (const model of [...ROUTES, ...BOARD_ROUTE_MODELS]) {
    if (!registered.has(key(model.method, model.path))) {
      problems.push(`${model.method} ${model.path}: modelled but not a registered route`);
    }
  }
  return problems;
}

async function documentOf(app: FastifyInstance): Promise<OpenApiDocument> {
  const response = await app.inject({ method: 'GET', url: `${DOCS_PATH}/json` });
  expect(response.statusCode).toBe(200);
  return response.json();
}

describe('route coverage', () => {
  let t: ApiTestContext;
  beforeAll(async () => {
    t = await createApiTestContext('route-coverage');
  });
  afterAll(async () => {
    await t?.close();
  });

  it('every registered route is documented with its answers and modelled in the property tests', async () => {
    await t.app.ready();
    // The list is the app's own: the document's operations and every property model are in it.
    expect(t.app.registeredRoutes.length).toBeGreaterThan(ROUTES.length);
    expect(coverageProblems(t.app, await documentOf(t.app))).toEqual([]);
  });

  it('names a route added without a schema, a model or a place in the document; answers only what a schema names', async () => {
    const extra = await createApiTestContext('route-coverage-extra');
    try {
      extra.app.get('/admin/undocumented', async () => ({ secret: 'x' }));
      extra.app.get(
        '/admin/half-documented/:id',
        { schema: { response: { 200: z.object({ id: z.string() }) } } },
        async (request) => ({ ...(request.params as { id: string }), secret: 'never sent' }),
      );
      extra.app.get('/admin/hidden', { schema: { hide: true } }, async () => ({}));
      await extra.app.ready();
      const problems = coverageProblems(extra.app, await documentOf(extra.app));
      expect(problems).toEqual(
        expect.arrayContaining([
          'GET /admin/undocumented: no model in the property tests (arbitraries.ts)',
          'GET /admin/undocumented: no response schema for a 2xx answer',
          'GET /admin/undocumented: no response schema for 500',
          'GET /admin/undocumented: no response schema for 401',
          'GET /admin/half-documented/:id: no model in the property tests (arbitraries.ts)',
          'GET /admin/half-documented/:id: no response schema for 500',
          'GET /admin/hidden: hidden from the document',
          'GET /admin/half-documented/:id: no response schema for 429',
        ]),
      );
      expect(
        problems.filter(
          (p) => !p.includes('undocumented') && !p.includes('half-') && !p.includes('hidden'),
        ),
      ).toEqual([]);
      // Answers go through the response schema: a field it does not name never leaves.
      const answer = await extra.app.inject({
        method: 'GET',
        url: '/admin/half-documented/7',
        headers: auth,
      });
      expect(answer.statusCode).toBe(200);
      expect(answer.json()).toEqual({ id: '7' });
    } finally {
      await extra.close();
    }
  });
});
