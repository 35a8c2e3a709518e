/** `GET /admin/system`: throughput, outbox backlog, consumer groups and live workers. */
import { consumerGroups as groupsOf } from '@historical-sync/consumer';
import { applicationStreams, type SystemBody } from '@historical-sync/contracts';
import type { Db } from '@historical-sync/db';
import { outboxBacklog } from '@historical-sync/domain';
import type { RedisClient } from './publisher';
import {
  consoleKeys,
  THROUGHPUT_BUCKET_MS,
  THROUGHPUT_WINDOW_MS,
  WORKER_SEEN_WITHIN_MS,
} from './worker-heartbeat';

export async function systemStatus(
  deps: { db: Db; redis: RedisClient; queuePrefix: string; streamPrefix: string },
  now = Date.now(),
): Promise<SystemBody> {
  const keys = consoleKeys(deps.queuePrefix);
  // Complete buckets only: the current one is still being added to.
  const current = now - (now % THROUGHPUT_BUCKET_MS);
  const starts = Array.from(
    { length: THROUGHPUT_WINDOW_MS / THROUGHPUT_BUCKET_MS },
    (_, i) => current - (THROUGHPUT_WINDOW_MS / THROUGHPUT_BUCKET_MS - i) * THROUGHPUT_BUCKET_MS,
  );
  const [counts, workerIds, outbox, applications] = await Promise.all([
    deps.redis.mget(starts.map(keys.bucket)),
    deps.redis.zrangebyscore(keys.workers, now - WORKER_SEEN_WITHIN_MS, '+inf'),
    outboxBacklog(deps.db),
    deps.db.selectFrom('applications').select('code').orderBy('code').execute(),
  ]);
  const workerValues =
    workerIds.length > 0 ? await deps.redis.mget(workerIds.map(keys.worker)) : [];
  const streams = [
    ...new Set(applications.flatMap((a) => applicationStreams(a.code, deps.streamPrefix))),
  ];
  const groups = await Promise.all(
    streams.map(async (stream) =>
      (await groupsOf(deps.redis, stream)).map((g) => ({
        stream,
        group: g.name,
        lag: g.lag,
        pending: g.pending,
      })),
    ),
  );
  return {
    eventsPerSecond: starts.map((start, i) => ({
      at: new Date(start).toISOString(),
      events: Number(counts[i] ?? 0) / (THROUGHPUT_BUCKET_MS / 1000),
    })),
    outbox: {
      backlog: outbox.unpublished,
      oldestAgeSeconds: outbox.oldestAgeMs === null ? null : outbox.oldestAgeMs / 1000,
    },
    consumerGroups: groups.flat(),
    workers: workerValues.flatMap((value) => {
      if (!value) return []; // expired between the two reads
      const worker = JSON.parse(value) as SystemBody['workers'][number];
      return [worker];
    }),
  };
}
