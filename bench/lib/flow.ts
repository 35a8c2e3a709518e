/**
 * The flow-control phase: a consumer group that acknowledges at a fixed, slow rate, and a backfill
 * of the memberships into its stream. The group's backlog should stay at the bound.
 */
import { streamBacklog } from '@historical-sync/backfill';
import { HISTORICAL_EVENT_TYPE, streamName } from '@historical-sync/contracts';
import type { Redis } from 'ioredis';

export async function flowControlPhase(options: {
  redis: Redis;
  base: string;
  headers: Record<string, string>;
  tenantId: string;
  prefix: string;
  bound: number;
  rate: number;
  seconds: number;
}) {
  const { redis, base, headers, tenantId } = options;
  const stream = streamName(HISTORICAL_EVENT_TYPE.memberships, 'crm', `${options.prefix}:`);
  await redis.unlink(stream).catch(() => {});
  await redis.xgroup('CREATE', stream, 'slow-consumer', '0', 'MKSTREAM');
  const memory = async () => Number((await redis.info('memory')).match(/used_memory:(\d+)/)?.[1]);
  const memoryBefore = await memory();
  const response = await fetch(
    `${base}/admin/organizations/${tenantId}/applications/crm/sync-historical`,
    {
      method: 'POST',
      headers,
      body: JSON.stringify({ syncCredits: false, syncOrganizations: false }),
    },
  );
  const { runId } = (await response.json()) as { runId: string };

  const reader = redis.duplicate();
  const batch = Math.max(1, Math.round(options.rate / 10));
  let largestBacklog = 0;
  let peakMemory = memoryBefore;
  const until = Date.now() + options.seconds * 1000;
  while (Date.now() < until) {
    const tick = Date.now();
    const reply = (await reader.xreadgroup(
      'GROUP',
      'slow-consumer',
      'c1',
      'COUNT',
      batch,
      'STREAMS',
      stream,
      '>',
    )) as [string, [string, string[]][]][] | null;
    const ids = reply?.[0]?.[1].map(([id]) => id) ?? [];
    if (ids.length) await reader.xack(stream, 'slow-consumer', ...ids);
    largestBacklog = Math.max(largestBacklog, await streamBacklog(redis, stream));
    peakMemory = Math.max(peakMemory, await memory());
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, 100 - (Date.now() - tick))));
  }
  reader.disconnect();
  await fetch(`${base}/admin/organizations/${tenantId}/sync-runs/${runId}/cancel`, {
    method: 'POST',
    headers,
  });
  const published = await redis.xlen(stream);
  await redis.unlink(stream);
  return { largestBacklog, published, redisGrowthMb: (peakMemory - memoryBefore) / 2 ** 20 };
}
