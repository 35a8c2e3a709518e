/**
 * Every route Fastify registers is in the OpenAPI document with a response schema for each status
 * it can answer, and has a model in the property tests (arbitraries.ts), and every model is a
 * registered route. Third-party pages (Bull Board, Swagger UI's files) hide their own routes from
 * the document; they must still be modelled. Each model's requests send every field its route's
 * params, query and body schemas read, valid, and refused: the table's models are derived from
 * those schemas, so a field added to one is covered with no edit. A route added without a schema
 * or a model, or a field no request sends, fails here, naming it (the second test proves it).
 */

import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { DOCS_PATH } from '../src/plugins/api-docs';
import { BOARD_PATH } from '../src/plugins/bull-board';
import { CONSOLE_PATH } from '../src/plugins/console';
import type { RegisteredRoute } from '../src/plugins/route-catalog';
import { ROUTE_MODELS } from './arbitraries';
import { BOARD_ROUTE_MODELS } from './board-arbitraries';
import { type ApiTestContext, auth, createApiTestContext } from './helpers';
import { requestFor } from './requests';
import type { RouteModel } from './schema-models';

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

const PARTS = { params: 'params', querystring: 'query', body: 'body' } as const;
type Part = (typeof PARTS)[keyof typeof PARTS];

/**
 * The fields a model's requests send, by part: with a valid value (in a request with no fault, or
 * beside another field's fault), and refused (the one field of a certain fault). Sampled with a
 * fixed seed: the same requests every run.
 */
function fieldsSent(model: RouteModel): Record<'valid' | 'refused', Record<Part, Set<string>>> {
  const sets = () => ({
    params: new Set<string>(),
    query: new Set<string>(),
    body: new Set<string>(),
  });
  const sent = { valid: sets(), refused: sets() };
  for (const request of fc.sample(requestFor(model), { numRuns: 1_000, seed: 42 })) {
    const { fault } = request;
    const refused = fault.kind === 'field' && fault.mustReject ? fault.fields[0] : undefined;
    if (refused !== undefined && fault.kind === 'field') {
      sent.refused[fault.where].add(refused);
    }
    const isValid = (part: Part, name: string) =>
      fault.kind === 'none' ||
      (fault.kind === 'field' && (fault.where !== part || fault.fields[0] !== name));
    for (const name of Object.keys(request.params)) {
      if (isValid('params', name)) sent.valid.params.add(name);
    }
    for (const [name] of request.queryFields) {
      if (isValid('query', name)) sent.valid.query.add(name);
    }
    const body = request.body?.kind === 'json' ? request.body.value : undefined;
    if (body !== null && typeof body === 'object' && !Array.isArray(body)) {
      for (const name of Object.keys(body)) if (isValid('body', name)) sent.valid.body.add(name);
    }
  }
  return sent;
}

/** What is wrong with the routes' coverage, one line per problem naming the route. */
function coverageProblems(
  app: FastifyInstance,
  document: OpenApiDocument,
  models: readonly RouteModel[] = ROUTE_MODELS,
): string[] {
  const problems: string[] = [];
  // HEAD answers as its GET does (Fastify adds one per GET): the GET is what is checked.
  const routes = app.registeredRoutes.filter((route) => route.method !== 'HEAD');
  const modelled = new Set([
    ...models.map((model) => key(model.method, model.path)),
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
  // A model's requests send every field the route's schemas read, valid and refused.
  for (const model of models) {
    const route = routes.find((r) => r.method === model.method && r.url === model.path);
    if (!route) continue;
    const sent = fieldsSent(model);
    for (const [schemaPart, part] of Object.entries(PARTS)) {
      const schema = route.schema?.[schemaPart as keyof typeof PARTS];
      const fields = schema instanceof z.ZodObject ? Object.keys(schema.shape) : [];
      for (const field of fields) {
        if (!sent.valid[part].has(field)) {
          problems.push(`${model.method} ${model.path}: ${part} field ${field} is never sent`);
        }
        if (!sent.refused[part].has(field)) {
          problems.push(`${model.method} ${model.path}: ${part} field ${field} is never refused`);
        }
      }
    }
  }
  const registered = new Set(routes.map((route) => key(route.method, route.url)));
  for (const model of [...models, ...BOARD_ROUTE_MODELS]) {
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
    expect(t.app.registeredRoutes.length).toBeGreaterThan(ROUTE_MODELS.length);
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
      // A body field the model's requests never send (a schema changed under a hand-made model).
      extra.app.post(
        '/admin/half-modelled',
        { schema: { body: z.strictObject({ a: z.boolean(), b: z.string().max(10) }) } },
        async () => ({}),
      );
      const halfModelled: RouteModel = {
        name: 'halfModelled',
        method: 'POST',
        path: '/admin/half-modelled',
        params: {},
        body: {
          a: {
            valid: fc.boolean(),
            invalid: fc.constant('yes'),
            hostile: fc.boolean(),
            required: true,
            refusesHugeText: true,
          },
        },
        strictBody: true,
      };
      await extra.app.ready();
      const problems = coverageProblems(extra.app, await documentOf(extra.app), [
        ...ROUTE_MODELS,
        halfModelled,
      ]);
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
          'POST /admin/half-modelled: body field b is never sent',
          'POST /admin/half-modelled: body field b is never refused',
        ]),
      );
      expect(
        problems.filter(
          (p) => !p.includes('undocumented') && !p.includes('half-') && !p.includes('hidden'),
        ),
      ).toEqual([]);
      expect(problems.filter((p) => p.includes('half-modelled: body field a'))).toEqual([]);
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
