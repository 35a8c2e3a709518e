/**
 * API keys: created with a random 256-bit secret, shown once, stored as a SHA-256 digest. A key
 * is a platform admin's or scoped to one tenant. The `ADMIN_API_KEY` from the environment is an
 * admin key too (it bootstraps the first stored keys) and is never stored.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { NotFoundError } from '@historical-sync/backfill';
import type { ApiKey, Db } from '@historical-sync/db';

/** Who a request acts as. */
export type Principal =
  | { kind: 'admin'; keyId: string }
  | { kind: 'tenant'; keyId: string; tenantId: string };

/** Keys look like `hsk_<43 base64url characters>`; anything else is refused without a lookup. */
const KEY_PATTERN = /^hsk_[A-Za-z0-9_-]{43}$/;
const ENV_ADMIN_KEY_ID = 'env:ADMIN_API_KEY';
/** The cache never grows past this; when full it starts over. */
const MAX_CACHED = 10_000;

const digest = (value: string) => createHash('sha256').update(value).digest();

/** Constant-time comparison of digests, so a key's length or prefix cannot be probed. */
export function credentialMatches(given: string, expected: string): boolean {
  return given.length > 0 && timingSafeEqual(digest(given), digest(expected));
}

export interface ApiKeyView {
  id: string;
  name: string;
  prefix: string;
  scope: 'admin' | 'tenant';
  tenantId: string | null;
  createdAt: string;
  revokedAt: string | null;
}

const view = (row: ApiKey): ApiKeyView => ({
  id: row.id,
  name: row.name,
  prefix: row.key_prefix,
  scope: row.tenant_id ? 'tenant' : 'admin',
  tenantId: row.tenant_id,
  createdAt: row.created_at.toISOString(),
  revokedAt: row.revoked_at?.toISOString() ?? null,
});

export interface ApiKeyStoreOptions {
  /** The environment's admin key. */
  adminKey: string;
  /**
   * How long a lookup is remembered. Revoking through this process takes effect at once; through
   * another API process, within this time.
   */
  cacheMs: number;
}

export class ApiKeyStore {
  /** Valid keys only: caching misses would let random tokens evict the real keys. */
  private readonly cache = new Map<string, { principal: Principal; until: number }>();
  /** Bumped by every revoke: a lookup that started before one must not cache its answer. */
  private generation = 0;
  /**
   * Digests of every unrevoked key, loaded on demand while some address is over the failure
   * limit: a guess is then refused from memory, and one query serves every guess until refreshed.
   */
  private known: { digests: Set<string>; loadedAt: number } | null = null;
  private loadingKnown: Promise<Set<string>> | null = null;
  /** Told the id of each key revoked through this process (live streams end at once). */
  private readonly revokeListeners: ((keyId: string) => void)[] = [];

  constructor(
    private readonly db: Db,
    private readonly options: ApiKeyStoreOptions,
  ) {}

  /** The principal a bearer token stands for, or null for an unknown or revoked key. */
  async authenticate(token: string): Promise<Principal | null> {
    if (credentialMatches(token, this.options.adminKey)) {
      return { kind: 'admin', keyId: ENV_ADMIN_KEY_ID };
    }
    if (!KEY_PATTERN.test(token)) return null;
    const keyDigest = digest(token);
    const cacheKey = keyDigest.toString('base64');
    const cached = this.cache.get(cacheKey);
    if (cached && cached.until > Date.now()) return cached.principal;

    const generation = this.generation;
    const row = await this.db
      .selectFrom('api_keys')
      .select(['id', 'tenant_id'])
      .where('key_digest', '=', keyDigest)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    const principal: Principal | null = !row
      ? null
      : row.tenant_id
        ? { kind: 'tenant', keyId: row.id, tenantId: row.tenant_id }
        : { kind: 'admin', keyId: row.id };
    if (principal && this.options.cacheMs > 0 && generation === this.generation) {
      if (this.cache.size >= MAX_CACHED) this.cache.clear();
      this.cache.set(cacheKey, { principal, until: Date.now() + this.options.cacheMs });
    }
    return principal;
  }

  /**
   * `authenticate` for a client over the failure limit: a token that is no known key's digest is
   * refused without a database query. The set of known digests is one query, refreshed at most
   * every `max(cacheMs, 1 s)`, so a key created through another API process passes here within
   * that time.
   */
  async authenticateKnown(token: string): Promise<Principal | null> {
    if (credentialMatches(token, this.options.adminKey)) {
      return { kind: 'admin', keyId: ENV_ADMIN_KEY_ID };
    }
    if (!KEY_PATTERN.test(token)) return null;
    const known = await this.knownDigests();
    if (!known.has(digest(token).toString('base64'))) return null;
    return this.authenticate(token);
  }

  private async knownDigests(): Promise<Set<string>> {
    const refreshMs = Math.max(this.options.cacheMs, 1_000);
    if (this.known && Date.now() - this.known.loadedAt < refreshMs) return this.known.digests;
    this.loadingKnown ??= this.db
      .selectFrom('api_keys')
      .select('key_digest')
      .where('revoked_at', 'is', null)
      .execute()
      .then((rows) => {
        const digests = new Set(rows.map((row) => row.key_digest.toString('base64')));
        this.known = { digests, loadedAt: Date.now() };
        return digests;
      })
      .finally(() => {
        this.loadingKnown = null;
      });
    return this.loadingKnown;
  }

  /** Creates a key; the returned `key` is the only time the secret is seen. */
  async create(input: {
    name: string;
    tenantId: string | null;
  }): Promise<ApiKeyView & { key: string }> {
    if (input.tenantId) {
      const tenant = await this.db
        .selectFrom('tenants')
        .select('id')
        .where('id', '=', input.tenantId)
        .executeTakeFirst();
      if (!tenant) throw new NotFoundError(`tenant ${input.tenantId} not found`, 'tenantId');
    }
    const key = `hsk_${randomBytes(32).toString('base64url')}`;
    const row = await this.db
      .insertInto('api_keys')
      .values({
        name: input.name,
        key_digest: digest(key),
        key_prefix: key.slice(0, 10),
        tenant_id: input.tenantId,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    this.known?.digests.add(row.key_digest.toString('base64'));
    return { ...view(row), key };
  }

  async list(): Promise<ApiKeyView[]> {
    const rows = await this.db
      .selectFrom('api_keys')
      .selectAll()
      .orderBy('created_at')
      .orderBy('id')
      .execute();
    return rows.map(view);
  }

  /**
   * The ids among `keyIds` that still stand for an unrevoked key, read from Postgres (not the
   * cache), so a key revoked through another API process is seen at once. The environment's
   * admin key is never revoked.
   */
  async unrevoked(keyIds: readonly string[]): Promise<Set<string>> {
    const valid = new Set<string>(keyIds.filter((id) => id === ENV_ADMIN_KEY_ID));
    // Every other id is a stored key's (a UUID): the environment's key is the only other kind.
    const stored = keyIds.filter((id) => id !== ENV_ADMIN_KEY_ID);
    if (stored.length === 0) return valid;
    const rows = await this.db
      .selectFrom('api_keys')
      .select('id')
      .where('id', 'in', stored)
      .where('revoked_at', 'is', null)
      .execute();
    for (const row of rows) valid.add(row.id);
    return valid;
  }

  /** Calls `listener` with the id of each key revoked through this process. */
  onRevoke(listener: (keyId: string) => void): void {
    this.revokeListeners.push(listener);
  }

  /** Revokes a key (again: no change). Its requests are refused from now on. */
  async revoke(id: string): Promise<ApiKeyView> {
    const row =
      (await this.db
        .updateTable('api_keys')
        .set({ revoked_at: new Date() })
        .where('id', '=', id)
        .where('revoked_at', 'is', null)
        .returningAll()
        .executeTakeFirst()) ??
      (await this.db.selectFrom('api_keys').selectAll().where('id', '=', id).executeTakeFirst());
    if (!row) throw new NotFoundError(`api key ${id} not found`, 'keyId');
    this.generation += 1;
    this.cache.clear();
    for (const listener of this.revokeListeners) listener(row.id);
    return view(row);
  }
}
