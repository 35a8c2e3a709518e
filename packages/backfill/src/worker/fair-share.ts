/**
 * Fair share per tenant (docs/decisions/0010-fair-share-per-tenant.md). A resource job holds a
 * lease on its tenant's slot count in its queue while it runs. A tenant that already runs a job in
 * the queue gets a second one only while no other tenant's job waits there, so partitions and
 * parallel runs buy a tenant parallelism on otherwise idle workers only. A refused job steps aside
 * (delayed, no attempt used), which takes it out of the wait list, so the other tenants' jobs
 * behind it reach the workers within one pass.
 */

import { evalScript, script } from '@historical-sync/runtime';
import type { Job } from 'bullmq';
import type { RedisClient } from '../publish/publisher';

/** How many waiting jobs are looked at to find another tenant's; a longer list counts as "yes". */
const WAITING_SCAN = 200;
/** Bounds of how long a refused job steps aside (delayed, no attempt used). */
const MIN_STEP_ASIDE_MS = 500;
const MAX_STEP_ASIDE_MS = 10_000;

/**
 * KEYS: the tenant's lease set in this queue. ARGV: job id, lease expiry (ms), now (ms), whether
 * another tenant waits. Admits (1) unless the tenant has a live lease of another job and another
 * tenant waits (0).
 */
const ADMIT = script(
  1,
  `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
local others = redis.call('ZCARD', KEYS[1]) - (redis.call('ZSCORE', KEYS[1], ARGV[1]) and 1 or 0)
if others > 0 and ARGV[4] == '1' then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('PEXPIRE', KEYS[1], math.floor(tonumber(ARGV[2]) - tonumber(ARGV[3])) + 1000)
return 1
`,
);

export interface TenantLease {
  /** Extends the lease; called as the job makes progress. */
  renew(): Promise<void>;
  /** Gives the slot back; safe to call twice. */
  release(): Promise<void>;
}

/**
 * How many jobs wait in the job's queue, and whether one of them is another tenant's (a list
 * longer than the scan counts as "yes").
 */
async function waitingJobs(redis: RedisClient, job: Job, tenantId: string) {
  const queue = job.queueQualifiedName;
  const [ids, length] = await Promise.all([
    redis.lrange(`${queue}:wait`, 0, WAITING_SCAN - 1),
    redis.llen(`${queue}:wait`),
  ]);
  if (length > ids.length) return { length, otherTenant: true };
  const data = await Promise.all(ids.map((id) => redis.hget(`${queue}:${id}`, 'data')));
  const otherTenant = data.some(
    (json) => json !== null && (JSON.parse(json) as { tenantId?: string }).tenantId !== tenantId,
  );
  return { length, otherTenant };
}

/**
 * A lease for the job, or how long it should step aside while its tenant lets other tenants go
 * first: long enough for the workers to reach the jobs now waiting (a few ms each), so a tenant
 * with hundreds of jobs does not keep the workers busy turning its own jobs away.
 */
export async function admitTenantJob(
  redis: RedisClient,
  job: Job,
  /** The attempt's lock token: a stalled attempt's release cannot drop its successor's lease. */
  token: string | undefined,
  tenantId: string,
  leaseMs: number,
): Promise<{ lease: TenantLease } | { retryInMs: number }> {
  const key = `${job.queueQualifiedName}:fair:${tenantId}`;
  const jobId = `${job.id}:${token ?? ''}`;
  const waiting = await waitingJobs(redis, job, tenantId);
  const now = Date.now();
  const admitted = await evalScript(
    redis,
    ADMIT,
    [key],
    [jobId, now + leaseMs, now, waiting.otherTenant ? 1 : 0],
  );
  if (Number(admitted) !== 1) {
    return {
      retryInMs: Math.min(MAX_STEP_ASIDE_MS, Math.max(MIN_STEP_ASIDE_MS, waiting.length * 10)),
    };
  }
  let released = false;
  return {
    lease: {
      renew: async () => {
        if (released) return;
        // The set's own expiry moves with its newest lease, so it never outlives them by much
        // nor vanishes under a lease still held.
        await redis
          .multi()
          .zadd(key, Date.now() + leaseMs, jobId)
          .pexpire(key, leaseMs + 1_000)
          .exec();
      },
      release: async () => {
        released = true;
        await redis.zrem(key, jobId);
      },
    },
  };
}
