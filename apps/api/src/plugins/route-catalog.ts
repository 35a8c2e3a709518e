/**
 * Every route the app registers, with its schema, as Fastify saw it: the one list the route
 * coverage test checks the OpenAPI document and the property tests' models against.
 */
import type { FastifyInstance, FastifySchema } from 'fastify';

export interface RegisteredRoute {
  method: string;
  url: string;
  schema: (FastifySchema & { hide?: boolean }) | undefined;
}

declare module 'fastify' {
  interface FastifyInstance {
    registeredRoutes: readonly RegisteredRoute[];
  }
}

/** Call before any route is registered: routes of plugins registered later are seen too. */
export function collectRoutes(app: FastifyInstance): void {
  const routes: RegisteredRoute[] = [];
  app.decorate('registeredRoutes', routes);
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) {
      // Read when asked: a later onRoute hook (e.g. the board's) may still set the schema.
      routes.push({
        method,
        url: route.url,
        get schema() {
          return route.schema;
        },
      });
    }
  });
}
