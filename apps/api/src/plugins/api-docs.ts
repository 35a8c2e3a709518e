/**
 * The OpenAPI document, generated from the routes' zod schemas (so it cannot drift from what the
 * API accepts and answers), served as JSON at /docs/json, YAML at /docs/yaml, and as a browsable
 * Swagger UI page at /docs. The page's scripts and styles are served from this process (the
 * swagger-ui-dist files in @fastify/swagger-ui), nothing from a CDN, so the API's CSP holds.
 * Public, like /health: the document says what the API is, not what it holds.
 */
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import { jsonSchemaTransform, jsonSchemaTransformObject } from 'fastify-type-provider-zod';

export const DOCS_PATH = '/docs';

type Transform = typeof jsonSchemaTransform;

const pascal = (word: string) => word.charAt(0).toUpperCase() + word.slice(1);

/**
 * Every operation's operationId, derived once from its method and path so that no route can
 * forget one: `POST /admin/organizations/:orgId/applications/:appId/toggle` is
 * `postAdminOrganizationsByOrgIdApplicationsByAppIdToggle`. Fastify allows one route per method
 * and path, so ids collide only for paths that differ in punctuation alone (Redocly's lint in
 * test/real-clients.test.ts would name both). Client generators name their methods after it, so
 * it changes only when the route does.
 */
function operationId(method: string, url: string): string {
  const words = url
    .split('/')
    .filter(Boolean)
    .map((segment) => {
      if (segment === '*') return 'Any';
      const param = segment.startsWith(':');
      const name = segment
        .replace(/^:/, '')
        .split(/[^A-Za-z0-9]+/)
        .filter(Boolean)
        .map(pascal)
        .join('');
      return param ? `By${name}` : name;
    });
  return method.toLowerCase() + words.join('');
}

/**
 * The routes' zod schemas as JSON Schema (fastify-type-provider-zod), plus two rules every route
 * gets from here rather than from its own definition: its operationId, and no path ending in a
 * slash (clients reject one). A prefixed plugin's root answers with and without the slash (Bull
 * Board at `/admin/queues` and `/admin/queues/`), and Fastify hands both routes the same options
 * object, whose url ends up being the slashed one: such a route is listed under its slashless
 * twin, once.
 */
function documentTransform(app: FastifyInstance): Transform {
  return (input) => {
    const { route } = input;
    const method = [route.method].flat()[0] ?? 'GET';
    const slashless = input.url.length > 1 ? input.url.replace(/\/$/, '') : input.url;
    const url = (app.registeredRoutes ?? []).some(
      (other) => other.method === method && other.url === slashless,
    )
      ? slashless
      : input.url;
    const transformed = jsonSchemaTransform({ ...input, url });
    return {
      ...transformed,
      // A route without a schema still gets an operation in the document, so an id too.
      schema: {
        ...transformed.schema,
        operationId: transformed.schema?.operationId ?? operationId(method, url),
      },
    };
  };
}

/** Register before any route: the document lists the routes registered after it. */
export async function registerApiDocs(app: FastifyInstance): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'historical-sync admin API',
        version: '0.1.0',
        description:
          'Toggle applications per tenant, run and control historical syncs, write the wrapper rows whose changes stream live, and manage API keys. Every error is `{ error, message, field? }`.',
      },
      components: {
        securitySchemes: {
          bearer: {
            type: 'http',
            scheme: 'bearer',
            description: 'An API key: an admin key, or a tenant key on its own tenant only',
          },
          basic: {
            type: 'http',
            scheme: 'basic',
            description: 'Bull Board in a browser: user `admin`, password an admin API key',
          },
        },
      },
      // Relative: the API's own origin, wherever it is served (the document comes from it).
      servers: [{ url: '/', description: 'this API' }],
      security: [{ bearer: [] }],
    },
    transform: documentTransform(app),
    transformObject: jsonSchemaTransformObject,
  });
  await app.register(swaggerUi, {
    routePrefix: DOCS_PATH,
    // No top bar: its box would load any other document into the page.
    uiConfig: {
      layout: 'BaseLayout',
      deepLinking: true,
      docExpansion: 'list',
      defaultModelsExpandDepth: 0,
    },
  });
}
