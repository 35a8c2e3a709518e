/**
 * `GET /admin/system`: throughput, outbox backlog, consumer groups, the streams and Redis's memory
 * (stream-report.ts), and live workers.
 */
import type { SystemResponse } from '@historical-sync/contracts';
import { type Db, outboxBacklog } from '@historical-sync/db';
import { redisMemory } from '../pacing/redis-memory';
import type { RedisClient } from '../publish/publisher';
import { streamReport } from '../redis/stream-report';
import { lastRetentionPass, systemStreams } from '../redis/stream-retention';
import { DEFAULT_RETENTION, type StreamRetention } from '../settings';
import {
  consoleKeys,
  THROUGHPUT_BUCKET_MS,
  THROUGHPUT_WINDOW_MS,
  WORKER_SEEN_WITHIN_MS,
} from '../worker/heartbeat';

export async function systemStatus(
  deps: {
    db: Db;
    redis: RedisClient;
    queuePrefix: string;
    streamPrefix: string;
    retention?: StreamRetention;
    /** The backfill's memory high mark (used / max); null = backfills never wait for memory. */
    memoryHighRatio?: number | null;
  },
  now = Date.now(),
): Promise<SystemResponse> {
  const keys = consoleKeys(deps.queuePrefix);
  // Complete buckets only: the current one is still being added to.
  const current = now - (now % THROUGHPUT_BUCKET_MS);
  const starts = Array.from(
    { length: THROUGHPUT_WINDOW_MS / THROUGHPUT_BUCKET_MS },
    (_, i) => current - (THROUGHPUT_WINDOW_MS / THROUGHPUT_BUCKET_MS - i) * THROUGHPUT_BUCKET_MS,
  );
  const [counts, workerIds, outbox, streams] = await Promise.all([
    deps.redis.mget(starts.map(keys.bucket)),
    deps.redis.zrangebyscore(keys.workers, now - WORKER_SEEN_WITHIN_MS, '+inf'),
    outboxBacklog(deps.db),
    systemStreams(deps.db, deps.streamPrefix),
  ]);
  const workerValues =
    workerIds.length > 0 ? await deps.redis.mget(workerIds.map(keys.worker)) : [];
  const retention = deps.retention ?? DEFAULT_RETENTION;
  const [reports, memory, lastTrim] = await Promise.all([
    Promise.all(streams.map((stream) => streamReport(deps.redis, stream, retention, now))),
    redisMemory(deps.redis),
    lastRetentionPass(deps.redis, deps.queuePrefix),
  ]);
  return {
    eventsPerSecond: starts.map((start, i) => ({
      at: new Date(start).toISOString(),
      events: Number(counts[i] ?? 0) / (THROUGHPUT_BUCKET_MS / 1000),
    })),
    outbox: {
      backlog: outbox.unpublished,
      oldestAgeSeconds: outbox.oldestAgeMs === null ? null : outbox.oldestAgeMs / 1000,
    },
    consumerGroups: reports.flatMap((r) =>
      r.groups.map(
        ({ stream, group, lag, pending, idleSeconds, oldestUnackedAgeSeconds, stalled }) => ({
          stream,
          group,
          lag,
          pending,
          idleSeconds,
          oldestUnackedAgeSeconds,
          stalled,
        }),
      ),
    ),
    redis: {
      usedBytes: memory.usedBytes,
      maxBytes: memory.maxBytes,
      backfillWaitsAbove: memory.maxBytes > 0 && deps.memoryHighRatio ? deps.memoryHighRatio : null,
      lastTrim: lastTrim
        ? { at: new Date(lastTrim.at).toISOString(), removed: lastTrim.removed }
        : null,
    },
    streams: reports.map(({ stream, length, memoryBytes, oldestUnackedAgeSeconds, warning }) => ({
      stream,
      length,
      memoryBytes,
      oldestUnackedAgeSeconds,
      warning,
    })),
    workers: workerValues.flatMap((value) => {
      if (!value) return []; // expired between the two reads
      const worker = JSON.parse(value) as SystemResponse['workers'][number];
      return [worker];
    }),
  };
}
