/**
 * Who may call what. Every /admin route needs a key: `Authorization: Bearer <key>`, or HTTP Basic
 * `admin:<key>` for browsers (Bull Board). Admin keys reach everything; a tenant key reaches only
 * the routes of its own tenant, and any other tenant looks to it exactly like one that does not
 * exist (404), so it learns nothing about other tenants.
 */
import { NotFoundError, tenantNotFound } from '@historical-sync/backfill';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ApiKeyStore, Principal } from '../auth/api-keys';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by `authenticate` on every route it guards. */
    principal: Principal | null;
  }
}

export const BASIC_USER = 'admin';

/** The key a request presents, from a Bearer or Basic `admin:<key>` header ('' when none). */
export function presentedKey(request: FastifyRequest): string {
  const parts = (request.headers.authorization ?? '').split(' ');
  if (parts.length !== 2) return ''; // exactly `<scheme> <credentials>`
  const [scheme, value = ''] = parts;
  if (scheme === 'Bearer') return value;
  if (scheme !== 'Basic') return '';
  const [user, ...password] = Buffer.from(value, 'base64').toString('utf8').split(':');
  return user === BASIC_USER ? password.join(':') : '';
}

/**
 * Requires a valid key on every route of `scope`. `challenge` is what a 401 asks for: Basic
 * makes a browser show its login prompt.
 */
export function authenticate(
  scope: FastifyInstance,
  keys: ApiKeyStore,
  challenge: 'Bearer' | 'Basic' = 'Bearer',
): void {
  scope.addHook('onRequest', async (request, reply) => {
    const principal = await keys.authenticate(presentedKey(request));
    if (!principal) {
      return reply
        .status(401)
        .header(
          'www-authenticate',
          challenge === 'Basic' ? 'Basic realm="historical-sync", charset="UTF-8"' : 'Bearer',
        )
        .send({ error: 'unauthorized', message: 'missing, invalid or revoked API key' });
    }
    request.principal = principal;
  });
}

/** Admin keys only (Bull Board, metrics, the outbox, key management). */
export function requireAdmin(scope: FastifyInstance): void {
  scope.addHook('onRequest', async (request, reply) => forbidUnlessAdmin(request, reply));
}

async function forbidUnlessAdmin(request: FastifyRequest, reply: FastifyReply) {
  if (request.principal?.kind === 'admin') return;
  return reply
    .status(403)
    .send({ error: 'forbidden', message: 'this route needs a platform-admin key' });
}

/**
 * A tenant key acts only on its own `:orgId`. Checked before the body is even read; the answer is
 * the one an unknown tenant gets.
 */
export function limitToOwnTenant(scope: FastifyInstance): void {
  scope.addHook('onRequest', async (request) => {
    const principal = request.principal;
    if (principal?.kind !== 'tenant') return;
    const orgId = (request.params as { orgId?: string }).orgId;
    if (orgId === undefined) {
      throw new NotFoundError(`no route ${request.method} ${request.url}`);
    }
    if (orgId.toLowerCase() !== principal.tenantId) {
      throw tenantNotFound(orgId);
    }
  });
}
