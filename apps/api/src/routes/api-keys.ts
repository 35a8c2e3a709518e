/** Key management (admin keys only): create (the secret is in this one response), list, revoke. */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { ApiKeyStore } from '../auth/api-keys';
import { parseRequest } from '../http/parse';
import { text } from './write-schemas';

export const CreateApiKeyBody = z.strictObject({
  /** A label for people: who or what uses the key. */
  name: text(100),
  /** The tenant the key is limited to; omitted or null for a platform-admin key. */
  tenantId: z.guid({ error: 'must be a UUID' }).nullable().default(null),
});
export const ApiKeyParams = z.object({ keyId: z.guid({ error: 'must be a UUID' }) });

export function apiKeyRoutes(app: FastifyInstance, keys: ApiKeyStore): void {
  app.post('/admin/api-keys', async (request, reply) => {
    const body = parseRequest(CreateApiKeyBody, request.body, 'body');
    const created = await keys.create({
      name: body.name,
      tenantId: body.tenantId?.toLowerCase() ?? null,
    });
    request.log.info(
      { keyId: created.id, scope: created.scope, tenantId: created.tenantId },
      'api key created',
    );
    return reply.status(201).send(created);
  });

  app.get('/admin/api-keys', async () => ({ keys: await keys.list() }));

  app.delete('/admin/api-keys/:keyId', async (request) => {
    const params = parseRequest(ApiKeyParams, request.params, 'params');
    const revoked = await keys.revoke(params.keyId.toLowerCase());
    request.log.info({ keyId: revoked.id }, 'api key revoked');
    return revoked;
  });
}
