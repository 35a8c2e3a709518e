/**
 * The route table (`ROUTES` in the contracts) is what the API registers: every entry is a route
 * of the app with the entry's method and path, the entry's params, query string and body schemas,
 * and a success answer for exactly the entry's statuses with the entry's schemas (an event
 * stream's as `text/event-stream`); and every JSON route under /admin is in the table, so the
 * clients can call it by name. The second test proves the check names each kind of drift.
 */
import { ROUTES, type RouteSpec } from '@historical-sync/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { BOARD_PATH } from '../src/plugins/bull-board';
import type { RegisteredRoute } from '../src/plugins/route-catalog';
import { type ApiTestContext, createApiTestContext } from './helpers';

/**
 * The same schema: the table's object itself, or a copy of it carrying the API's description
 * (`.describe()` clones a schema with the very same definition).
 */
function sameSchema(registered: unknown, table: unknown): boolean {
  if (registered === table) return true;
  const definition = (schema: unknown) =>
    schema instanceof z.ZodType ? schema._zod.def : { notZod: schema };
  return definition(registered) === definition(table);
}

const PARTS = ['params', 'querystring', 'body'] as const;

/** What differs between the table and the app's routes, one line per problem naming the route. */
function tableProblems(
  registered: readonly RegisteredRoute[],
  table: Record<string, RouteSpec>,
): string[] {
  const problems: string[] = [];
  for (const [name, entry] of Object.entries(table)) {
    const route = registered.find((r) => r.method === entry.method && r.url === entry.path);
    if (!route) {
      problems.push(`${name}: ${entry.method} ${entry.path} is not registered`);
      continue;
    }
    const schema = route.schema ?? {};
    for (const part of PARTS) {
      if (!sameSchema(schema[part], entry[part])) {
        problems.push(`${name}: its ${part} schema is not the table's`);
      }
    }
    const responses = (schema.response ?? {}) as Record<string, unknown>;
    const successes = Object.keys(responses).filter((status) => status.startsWith('2'));
    if (entry.events) {
      const answer = responses['200'] as { content?: Record<string, unknown> } | undefined;
      if (successes.join() !== '200' || !answer?.content?.['text/event-stream']) {
        problems.push(`${name}: does not answer 200 as an event stream`);
      }
      continue;
    }
    const expected = Object.keys(entry.response);
    if (successes.sort().join() !== expected.sort().join()) {
      problems.push(`${name}: answers ${successes} where the table says ${expected}`);
    }
    for (const [status, answer] of Object.entries(entry.response)) {
      if (responses[status] && !sameSchema(responses[status], answer)) {
        problems.push(`${name}: its ${status} answer is not the table's`);
      }
    }
  }
  const listed = new Set(Object.values(table).map((entry) => `${entry.method} ${entry.path}`));
  for (const route of registered) {
    // The queue board is a page of its own under /admin, not a route of the API's.
    const admin = route.url.startsWith('/admin/') && !route.url.startsWith(BOARD_PATH);
    if (admin && route.method !== 'HEAD' && !listed.has(`${route.method} ${route.url}`)) {
      problems.push(`${route.method} ${route.url}: registered but not in the route table`);
    }
  }
  return problems;
}

describe('the route table', () => {
  let t: ApiTestContext;
  beforeAll(async () => {
    t = await createApiTestContext('route-table');
    await t.app.ready();
  });
  afterAll(async () => {
    await t?.close();
  });

  it('is what the API registers: each entry with its method, path and schemas, and every /admin route', () => {
    expect(Object.keys(ROUTES).length).toBeGreaterThan(20);
    expect(tableProblems(t.app.registeredRoutes, ROUTES)).toEqual([]);
  });

  it('names an entry the API does not register, a schema or status that differs, a route left out', async () => {
    const changed: Record<string, RouteSpec> = {
      ...ROUTES,
      // Another object with the same fields is not the route's schema: a copy would drift.
      getRun: { ...ROUTES.getRun, params: z.object(ROUTES.getRun.params.shape) },
      retryRun: { ...ROUTES.retryRun, response: { 200: ROUTES.retryRun.response[202] } },
      listRuns: { ...ROUTES.listRuns, querystring: ROUTES.listTenants.querystring },
      getRunLater: { ...ROUTES.getRun, path: '/admin/runs/:runId' },
    };
    const { getSystem: _left, ...withoutSystem } = changed;
    expect(tableProblems(t.app.registeredRoutes, withoutSystem).sort()).toEqual([
      'GET /admin/system: registered but not in the route table',
      "getRun: its params schema is not the table's",
      'getRunLater: GET /admin/runs/:runId is not registered',
      "listRuns: its querystring schema is not the table's",
      'retryRun: answers 202 where the table says 200',
    ]);
  });
});
