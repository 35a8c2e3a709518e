import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';

const digest = (value: string) => createHash('sha256').update(value).digest();

/** Constant-time comparison of digests, so a key's length or prefix cannot be probed. */
export function credentialMatches(given: string, expected: string): boolean {
  return given.length > 0 && timingSafeEqual(digest(given), digest(expected));
}

/** Requires `Authorization: Bearer <key>` on every route of the scope it is added to. */
export function requireAdminKey(scope: FastifyInstance, adminKey: string): void {
  scope.addHook('onRequest', async (request, reply) => {
    const [scheme, token = ''] = (request.headers.authorization ?? '').split(' ', 2);
    if (scheme !== 'Bearer' || !credentialMatches(token, adminKey)) {
      return reply
        .status(401)
        .header('www-authenticate', 'Bearer')
        .send({ error: 'unauthorized', message: 'missing or invalid bearer token' });
    }
  });
}
