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

/** The credentials a request presents: the key, and whether a browser's Basic header carried it. */
export function presentedCredentials(request: FastifyRequest): {
  key: string;
  scheme: 'bearer' | 'basic' | null;
} {
  const parts = (request.headers.authorization ?? '').split(' ');
  if (parts.length !== 2) return { key: '', scheme: null }; // exactly `<scheme> <credentials>`
  const [scheme = '', value = ''] = parts;
  // Auth schemes are case-insensitive (RFC 9110).
  if (scheme.toLowerCase() === 'bearer') return { key: value, scheme: 'bearer' };
  if (scheme.toLowerCase() !== 'basic') return { key: '', scheme: null };
  const [user, ...password] = Buffer.from(value, 'base64').toString('utf8').split(':');
  return { key: user === BASIC_USER ? password.join(':') : '', scheme: 'basic' };
}

/** The key a request presents, from a Bearer or Basic `admin:<key>` header ('' when none). */
export function presentedKey(request: FastifyRequest): string {
  return presentedCredentials(request).key;
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Whether the browser says this request comes from another site. `Sec-Fetch-Site` is set by the
 * browser itself (a page cannot forge it) and decides when present: `same-site` is a sibling
 * origin (another subdomain or port), so only `same-origin` and `none` (typed in the address bar)
 * pass. Older browsers send no `Sec-Fetch-Site` but do send `Origin` on cross-origin POSTs: its
 * host must be the API's own `Host`. The scheme is not compared: behind a TLS-terminating proxy
 * the API sees http while the browser writes https.
 */
export function isCrossSite(request: FastifyRequest): boolean {
  const site = request.headers['sec-fetch-site'];
  if (site !== undefined) return site !== 'same-origin' && site !== 'none';
  const origin = request.headers.origin;
  if (origin === undefined) return false;
  const originHost = hostOf(origin);
  return originHost === null || originHost !== hostOf(`${request.protocol}://${request.host}`);
}

/** `host[:port]` of a URL as a browser writes it (no default port); null when it is none. */
function hostOf(url: string): string | null {
  try {
    const parsed = new URL(url);
    return parsed.host === '' ? null : parsed.host;
  } catch {
    return null; // `null` (an opaque origin) or a Host no URL can hold: never the API's own
  }
}

/**
 * Requires a valid key on every route of `scope`. `challenge` is what a 401 asks for: Basic
 * makes a browser show its login prompt.
 *
 * A browser sends Basic credentials it has cached with any request to the API, whichever site
 * made it; so a state-changing request authorized by Basic must come from the API's own pages
 * (403 otherwise, before the key is even looked up). Bearer headers are never sent by a browser
 * on its own, so they need no such check.
 *
 * Failed authentications are counted per client address; past the limit, a presented key is
 * looked up only when it is a known key's digest (no database query for a guess), so a valid key
 * still works from an address others flood with guesses.
 */
export function authenticate(
  scope: FastifyInstance,
  keys: ApiKeyStore,
  failures: FailedAttempts,
  challenge: 'Bearer' | 'Basic' = 'Bearer',
): void {
  scope.addHook('onRequest', async (request, reply) => {
    const credentials = presentedCredentials(request);
    if (
      credentials.scheme === 'basic' &&
      !SAFE_METHODS.has(request.method) &&
      isCrossSite(request)
    ) {
      return reply.status(403).send({
        error: 'forbidden',
        message: "cross-site request refused: Basic credentials act only from the API's own origin",
      });
    }
    // Counted as a failure until it succeeds, so concurrent guesses cannot all pass the check.
    const overLimit = !failures.begin(request.ip);
    const principal = overLimit
      ? await keys.authenticateKnown(credentials.key)
      : await keys.authenticate(credentials.key);
    if (principal && !overLimit) failures.succeeded(request.ip);
    if (!principal) {
      if (overLimit) {
        return reply
          .status(429)
          .header('retry-after', String(failures.retryAfterSeconds()))
          .send({ error: 'too_many_requests', message: 'too many failed authentications' });
      }
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
 * Addresses counted apart at once. Past it (a flood from very many addresses), new addresses
 * share one count: their guesses are limited together, and their valid keys still pass.
 */
const MAX_TRACKED_ADDRESSES = 100_000;
const OVERFLOW = '*';

/**
 * Failed authentications per client address, counted per minute in this process: past the limit
 * an address's guesses are answered 429 without a database lookup. Only failures count, and
 * only against the address that made them.
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

  /**
   * Before a lookup: false when `ip` is at the limit (its key must then be a known one); otherwise
   * the attempt counts as a failure until `succeeded`.
   */
  begin(ip: string): boolean {
    this.roll();
    if (this.perMinute === 0) return true;
    const key = this.keyFor(ip);
    const count = this.counts.get(key) ?? 0;
    if (count >= this.perMinute) return false;
    this.counts.set(key, count + 1);
    return true;
  }

  private keyFor(ip: string): string {
    return this.counts.has(ip) || this.counts.size < MAX_TRACKED_ADDRESSES ? ip : OVERFLOW;
  }

  /** The attempt `begin` counted authenticated: it is not a failure. */
  succeeded(ip: string): void {
    const key = this.counts.has(ip) ? ip : OVERFLOW;
    const count = this.counts.get(key);
    if (count === undefined || this.perMinute === 0) return;
    if (count <= 1) this.counts.delete(key);
    else this.counts.set(key, count - 1);
  }

  retryAfterSeconds(): number {
    return Math.max(1, Math.ceil((this.windowStart + 60_000 - Date.now()) / 1000));
  }
}
