/**
 * What each worker process tells the console (`GET /admin/system`), cheaply: every
 * HEARTBEAT_INTERVAL_MS one pipelined Redis write per process, holding
 *  - its heartbeat: `<prefix>:console:worker:<id>` (JSON, expires after WORKER_SEEN_WITHIN_MS)
 *    and its id in the sorted set `<prefix>:console:workers` scored by when it was last seen
 *    (entries older than WORKER_SEEN_WITHIN_MS removed on each write);
 *  - the events it published since its last write, added to the 10-second bucket
 *    `<prefix>:console:events:<bucket start ms>` (expires after the 15-minute window).
 * So Redis holds at most 92 bucket keys plus one key per live worker, whatever runs.
 */
import type { RedisClient } from '../publish/publisher';

export const HEARTBEAT_INTERVAL_MS = 5_000;
export const WORKER_SEEN_WITHIN_MS = 60_000;
export const THROUGHPUT_BUCKET_MS = 10_000;
export const THROUGHPUT_WINDOW_MS = 15 * 60_000;
const STOP_WRITE_TIMEOUT_MS = 1_000;

export const consoleKeys = (prefix: string) => ({
  workers: `${prefix}:console:workers`,
  worker: (id: string) => `${prefix}:console:worker:${id}`,
  bucket: (startMs: number) => `${prefix}:console:events:${startMs}`,
});

export interface WorkerHeartbeatOptions {
  redis: RedisClient;
  prefix: string;
  id: string;
  roles: readonly string[];
  intervalMs?: number;
  onError?: (error: unknown) => void;
}

export interface WorkerHeartbeat {
  /** Counts published events (historical or live) towards the current bucket. */
  count(events: number): void;
  /** Writes what is counted and stops; the heartbeat key expires on its own. */
  stop(): Promise<void>;
}

export function startWorkerHeartbeat(options: WorkerHeartbeatOptions): WorkerHeartbeat {
  const keys = consoleKeys(options.prefix);
  const startedAt = new Date().toISOString();
  let counted = 0;
  const beat = async () => {
    const now = Date.now();
    const events = counted;
    counted = 0;
    const bucket = keys.bucket(now - (now % THROUGHPUT_BUCKET_MS));
    const pipeline = options.redis
      .multi()
      .set(
        keys.worker(options.id),
        JSON.stringify({
          id: options.id,
          roles: options.roles,
          startedAt,
          lastSeenAt: new Date(now).toISOString(),
        }),
        'PX',
        WORKER_SEEN_WITHIN_MS,
      )
      .zadd(keys.workers, now, options.id)
      .zremrangebyscore(keys.workers, '-inf', now - WORKER_SEEN_WITHIN_MS)
      .pexpire(keys.workers, WORKER_SEEN_WITHIN_MS);
    if (events > 0) {
      pipeline
        .incrby(bucket, events)
        .pexpire(bucket, THROUGHPUT_WINDOW_MS + 2 * THROUGHPUT_BUCKET_MS);
    }
    try {
      await pipeline.exec();
    } catch (error) {
      counted += events; // counted again at the next beat
      options.onError?.(error);
    }
  };
  void beat();
  const timer = setInterval(() => void beat(), options.intervalMs ?? HEARTBEAT_INTERVAL_MS);
  return {
    count: (events) => {
      counted += events;
    },
    stop: async () => {
      clearInterval(timer);
      // The last counts, but never a stop held up by a Redis that does not answer.
      let timeout: NodeJS.Timeout | undefined;
      await Promise.race([
        beat(),
        new Promise((resolve) => {
          timeout = setTimeout(resolve, STOP_WRITE_TIMEOUT_MS);
        }),
      ]);
      clearTimeout(timeout);
    },
  };
}
