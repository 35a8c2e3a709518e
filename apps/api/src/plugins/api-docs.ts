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
      security: [{ bearer: [] }],
    },
    transform: jsonSchemaTransform,
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
