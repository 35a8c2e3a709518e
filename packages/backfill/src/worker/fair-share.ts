/**
 * Fair share per tenant (DESIGN.md decision 10). A resource job holds a lease on its tenant's
 * slot count in its queue while it runs. A tenant that already runs a job in the queue gets a
 * second one only while no other tenant's job waits there, so partitions and parallel runs buy
 * a tenant parallelism on otherwise idle workers only. A refused job is parked briefly (delayed,
 * no attempt used), which takes it out of the wait list, so the other tenants' jobs behind it
 * reach the workers within one pass.
 */
import type { Job } from 'bullmq';
import type { RedisClient } from '../publisher';
import { evalScript, script } from '../redis-script';

/** How many waiting jobs are looked at to find another tenant's; a longer list counts as "yes". */
const WAITING_SCAN = 200;

/**
 * KEYS: the tenant's lease set in this queue. ARGV: job id, lease expiry (ms), now (ms), whether
 * another tenant waits. Admits (1) unless the tenant has a live lease of another job and another
 * tenant waits (0).
 */
const ADMIT = script(`
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
local others = redis.call('ZCARD', KEYS[1]) - (redis.call('ZSCORE', KEYS[1], ARGV[1]) and 1 or 0)
if others > 0 and ARGV[4] == '1' then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('PEXPIRE', KEYS[1], math.floor(tonumber(ARGV[2]) - tonumber(ARGV[3])) + 1000)
return 1
`);

export interface TenantLease {
  /** Extends the lease; called as the job makes progress. */
  renew(): Promise<void>;
  /** Gives the slot back; safe to call twice. */
  release(): Promise<void>;
}

/** Whether a job of another tenant waits in the job's queue. */
async function otherTenantWaits(redis: RedisClient, job: Job, tenantId: string): Promise<boolean> {
  const queue = job.queueQualifiedName;
  const ids = await redis.lrange(`${queue}:wait`, 0, WAITING_SCAN - 1);
  if (ids.length === 0) return false;
  if (ids.length === WAITING_SCAN) return true;
  const data = await Promise.all(ids.map((id) => redis.hget(`${queue}:${id}`, 'data')));
  return data.some((json) => {
    if (!json) return false;
    return (JSON.parse(json) as { tenantId?: string }).tenantId !== tenantId;
  });
}

/** A lease for the job, or undefined when its tenant must let other tenants go first. */
export async function admitTenantJob(
  redis: RedisClient,
  job: Job,
  tenantId: string,
  leaseMs: number,
): Promise<TenantLease | undefined> {
  const key = `${job.queueQualifiedName}:fair:${tenantId}`;
  const jobId = String(job.id);
  const waits = await otherTenantWaits(redis, job, tenantId);
  const now = Date.now();
  const admitted = await evalScript(
    redis,
    ADMIT,
    [key],
    [jobId, now + leaseMs, now, waits ? 1 : 0],
  );
  if (Number(admitted) !== 1) return undefined;
  let released = false;
  return {
    renew: async () => {
      if (!released) await redis.zadd(key, Date.now() + leaseMs, jobId);
    },
    release: async () => {
      released = true;
      await redis.zrem(key, jobId);
    },
  };
}
