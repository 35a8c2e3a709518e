/** Key management (admin keys only): create (the secret is in this one response), list, revoke. */
import { ROUTES } from '@historical-sync/contracts';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { ApiKeyStore } from '../auth/api-keys';
import { errorResponses, KEYED, WITH_BODY } from '../http/responses';

export function apiKeyRoutes(scope: FastifyInstance, keys: ApiKeyStore): void {
  const app = scope.withTypeProvider<ZodTypeProvider>();
  const { createApiKey, listApiKeys, revokeApiKey } = ROUTES;
  app.post(
    createApiKey.path,
    {
      schema: {
        summary:
          'Create an API key (admin, or scoped to tenantId); the key is in this response only',
        tags: ['api keys'],
        body: createApiKey.body,
        response: {
          201: createApiKey.response[201].describe(
            'the key, with its secret `key` (shown this once)',
          ),
          ...errorResponses(...KEYED, ...WITH_BODY, 404),
        },
      },
    },
    async (request, reply) => {
      const { body } = request;
      const created = await keys.create({
        name: body.name,
        tenantId: body.tenantId?.toLowerCase() ?? null,
      });
      request.log.info(
        { keyId: created.id, scope: created.scope, tenantId: created.tenantId },
        'api key created',
      );
      return reply.status(201).send(created);
    },
  );

  app.get(
    listApiKeys.path,
    {
      schema: {
        summary: 'List API keys (never their secrets)',
        tags: ['api keys'],
        response: {
          200: listApiKeys.response[200].describe('every key, revoked ones included'),
          ...errorResponses(...KEYED),
        },
      },
    },
    async () => ({ keys: await keys.list() }),
  );

  app.delete(
    revokeApiKey.path,
    {
      schema: {
        summary: 'Revoke an API key (again: no change)',
        tags: ['api keys'],
        params: revokeApiKey.params,
        response: {
          200: revokeApiKey.response[200].describe('the key, now revoked'),
          ...errorResponses(...KEYED, ...WITH_BODY, 404),
        },
      },
    },
    async (request) => {
      const revoked = await keys.revoke(request.params.keyId.toLowerCase());
      request.log.info({ keyId: revoked.id }, 'api key revoked');
      return revoked;
    },
  );
}
