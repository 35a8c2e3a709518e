/**
 * Dry runs bounded across every API process. A dry run counts the tenant's rows, one query per
 * selected resource, all at once; to the workers' source guard each of those queries is an active
 * backend of another client, and past `BACKFILL_SOURCE_MAX_ACTIVE` of them the guard pauses every
 * tenant's pages. Within one process only its pool bounds them, so with several API processes one
 * tenant's concurrent dry runs could stop every backfill, where a tenant may slow the others'
 * pages but never stop them.
 *
 * So each dry run of a tenant key holds a lease in Redis while it runs: at most
 * `DRY_RUNS_PER_TENANT` per tenant and `DRY_RUNS_MAX` in all, whichever process answers them;
 * beyond, 429 naming the limit, with a `retry-after`. With the defaults (1 and 4) a tenant's dry runs hold at most 3 backends and all
 * dry runs at most 12, under the guard's default of 16.
 *
 * A lease is a member of two sorted sets (the tenant's and everyone's) scored by its expiry on
 * Redis's clock; taking one drops the expired first, and a running dry run renews its own, so a
 * process that dies mid-count frees its leases within LEASE_TTL_MS. If Redis does not answer
 * within ACQUIRE_TIMEOUT_MS the dry run goes ahead without one: the pages the guard protects are
 * published to Redis, which is unreachable too then (or unreachable from this process only, whose
 * pool still bounds its own queries).
 */
import { randomUUID } from 'node:crypto';
import { QuotaExceededError, type RedisClient } from '@historical-sync/backfill';
import { ROUTES } from '@historical-sync/contracts';
import { evalScript, script } from '@historical-sync/runtime';
import type { FastifyBaseLogger, FastifyInstance, RouteHandlerMethod } from 'fastify';

export interface DryRunLimits {
  /** Dry runs one tenant may have running at once, across every API process. */
  perTenant: number;
  /** Dry runs running at once in all, across every API process. */
  total: number;
}

/** DRY_RUNS_PER_TENANT and DRY_RUNS_MAX unless set: 3 and 12 backends, under the guard's 16. */
export const DEFAULT_DRY_RUN_LIMITS: DryRunLimits = { perTenant: 1, total: 4 };

const LEASE_TTL_MS = 30_000;
const RENEW_EVERY_MS = 10_000;
const ACQUIRE_TIMEOUT_MS = 2_000;
/** The route whose `dryRun` is bounded. */
const SYNC_ROUTE = ROUTES.syncHistorical;

// KEYS: everyone's leases, the tenant's. ARGV: lease id, TTL, per-tenant limit, total limit.
// Returns 0 when taken, 1 when the tenant is at its limit, 2 when everyone is.
const ACQUIRE = script(
  2,
  `
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[3]) then return 1 end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then return 2 end
local expires = now + tonumber(ARGV[2])
for i = 1, 2 do
  redis.call('ZADD', KEYS[i], expires, ARGV[1])
  redis.call('PEXPIRE', KEYS[i], ARGV[2])
end
return 0
`,
);
// The same keys and lease: pushes its expiry on (only if it is still held).
const RENEW = script(
  2,
  `
local time = redis.call('TIME')
local expires = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000) + tonumber(ARGV[2])
for i = 1, 2 do
  if redis.call('ZADD', KEYS[i], 'XX', 'CH', expires, ARGV[1]) == 1 then
    redis.call('PEXPIRE', KEYS[i], ARGV[2])
  end
end
return 0
`,
);

/** The sets' keys: one hash tag, so a cluster keeps both in one slot for the scripts. */
export const dryRunLeaseKeys = (prefix: string, tenantId: string) => [
  `{${prefix}:dry-runs}:all`,
  `{${prefix}:dry-runs}:tenant:${tenantId}`,
];

export class DryRunLeases {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
    readonly limits: DryRunLimits,
    private readonly log: FastifyBaseLogger,
  ) {}

  /**
   * Runs `work` under a lease of `tenantId`'s; a QuotaExceededError (429) when the tenant or
   * everyone is at the limit.
   */
  async run<T>(tenantId: string, work: () => Promise<T>): Promise<T> {
    const keys = dryRunLeaseKeys(this.prefix, tenantId);
    const id = randomUUID();
    const taken = await this.acquire(keys, id);
    if (taken === 1) {
      throw new QuotaExceededError(
        429,
        `at most ${this.limits.perTenant} dry run(s) at once per tenant (DRY_RUNS_PER_TENANT)`,
        1,
      );
    }
    if (taken === 2) {
      throw new QuotaExceededError(
        429,
        `at most ${this.limits.total} dry runs at once in all (DRY_RUNS_MAX)`,
        1,
      );
    }
    const renew = setInterval(() => {
      evalScript(this.redis, RENEW, keys, [id, LEASE_TTL_MS]).catch(() => {});
    }, RENEW_EVERY_MS);
    renew.unref();
    try {
      return await work();
    } finally {
      clearInterval(renew);
      if (taken === 0) await this.release(keys, id);
    }
  }

  /** 0, 1 or 2 as the script answers; null when Redis did not answer in time (no lease). */
  private async acquire(keys: string[], id: string): Promise<number | null> {
    const { perTenant, total } = this.limits;
    const attempt = evalScript(this.redis, ACQUIRE, keys, [id, LEASE_TTL_MS, perTenant, total]);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<null>((resolve) => {
      timer = setTimeout(() => resolve(null), ACQUIRE_TIMEOUT_MS);
    });
    const taken = await Promise.race([attempt.then(Number), timeout])
      .catch(() => null)
      .finally(() => clearTimeout(timer));
    if (taken === null) {
      this.log.warn('dry-run lease not taken (Redis did not answer); the dry run goes ahead');
      // Taken after all, later: give it back rather than hold it for its TTL.
      attempt
        .then(async (late) => {
          if (Number(late) === 0) await this.release(keys, id);
        })
        .catch(() => {});
    }
    return taken;
  }

  private async release(keys: string[], id: string): Promise<void> {
    await Promise.all(keys.map((key) => this.redis.zrem(key, id))).catch((error: unknown) => {
      this.log.warn({ err: error }, 'dry-run lease not released; it expires on its own');
    });
  }
}

/**
 * Runs the sync route's dry runs by tenant keys under `leases`; real syncs, and admin keys' dry
 * runs (the operator's, not held to tenant quotas either), as they are. The handler is wrapped
 * (rather than leased in hooks) so the lease is held exactly while its counts run, and freed
 * whichever way the handler ends, a client gone meanwhile included. Register before the route.
 */
export function limitDryRuns(scope: FastifyInstance, leases: DryRunLeases): void {
  scope.addHook('onRoute', (route) => {
    if (route.url !== SYNC_ROUTE.path || route.method !== SYNC_ROUTE.method) return;
    const handler = route.handler as RouteHandlerMethod;
    route.handler = function dryRunLimited(request, reply) {
      const body = request.body as { dryRun?: unknown } | undefined;
      const principal = request.principal;
      if (body?.dryRun !== true || principal?.kind !== 'tenant') {
        return handler.call(this, request, reply);
      }
      // A tenant key reaches only its own tenant (limitToOwnTenant): lease under that tenant.
      return leases.run(principal.tenantId, async () => handler.call(this, request, reply));
    };
  });
}
