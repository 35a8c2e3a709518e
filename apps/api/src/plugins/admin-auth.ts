import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';

const digest = (value: string) => createHash('sha256').update(value).digest();

/** Requires `Authorization: Bearer <key>` on every route of the scope it is added to. */
export function requireAdminKey(scope: FastifyInstance, adminKey: string): void {
  const expected = digest(adminKey);
  scope.addHook('onRequest', async (request, reply) => {
    const header = request.headers.authorization ?? '';
    const [scheme, token] = header.split(' ', 2);
    // Compare digests in constant time, so the key's length or prefix cannot be probed.
    const ok = scheme === 'Bearer' && !!token && timingSafeEqual(digest(token), expected);
    if (!ok) {
      return reply
        .status(401)
        .header('www-authenticate', 'Bearer')
        .send({ error: 'unauthorized', message: 'missing or invalid bearer token' });
    }
  });
}
