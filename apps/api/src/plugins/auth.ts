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
  const [scheme = '', value = ''] = parts;
  // Auth schemes are case-insensitive (RFC 9110).
  if (scheme.toLowerCase() === 'bearer') return value;
  if (scheme.toLowerCase() !== 'basic') return '';
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
  failures: FailedAttempts,
  challenge: 'Bearer' | 'Basic' = 'Bearer',
): void {
  scope.addHook('onRequest', async (request, reply) => {
    if (failures.tooMany(request.ip)) {
      return reply
        .status(429)
        .header('retry-after', String(failures.retryAfterSeconds()))
        .send({ error: 'too_many_requests', message: 'too many failed authentications' });
    }
    const principal = await keys.authenticate(presentedKey(request));
    if (!principal) {
      failures.record(request.ip);
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

/**
 * Failed authentications per client address, counted per minute in this process: a client
 * guessing keys is refused (429) before its guesses cost a database lookup each.
 */
export class FailedAttempts {
  private counts = new Map<string, number>();
  private windowStart = Date.now();

  constructor(private readonly perMinute: number) {}

  private roll(): void {
    if (Date.now() - this.windowStart >= 60_000) {
      this.counts = new Map();
      this.windowStart = Date.now();
    }
  }

  tooMany(ip: string): boolean {
    this.roll();
    return this.perMinute > 0 && (this.counts.get(ip) ?? 0) >= this.perMinute;
  }

  record(ip: string): void {
    this.roll();
    this.counts.set(ip, (this.counts.get(ip) ?? 0) + 1);
  }

  retryAfterSeconds(): number {
    return Math.max(1, Math.ceil((this.windowStart + 60_000 - Date.now()) / 1000));
  }
}
