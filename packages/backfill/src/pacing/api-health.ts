/**
 * The API's own health, for source protection (source-guard.ts): on a machine the API shares with
 * its database and the backfill, the API is starved of CPU long before the database answers a
 * probe slowly, so each API process says how late its event loop runs and the workers' guards
 * slow their pages while any API process is over `BACKFILL_API_LAG_MS`.
 *
 * Each API process measures its event-loop delay (`monitorEventLoopDelay`: how late a 10 ms timer
 * fires, whatever the routes do, so a long-held live stream or a slow listing does not count as
 * ill health) and how many of its requests wait for a Postgres connection (its pool's queue,
 * sampled as often: when the backfill slows Postgres, each request holds its connection longer
 * and the API's requests queue for one while its event loop idles; the benchmark saw the toggle's
 * p99 in seconds with the loop on time), and every HEALTH_INTERVAL_MS writes, in one pipelined
 * round trip:
 *  - `<prefix>:health:api:<id>`: the window's delay (JSON), expiring after HEALTH_TTL_MS, so a
 *    stopped or stuck process's figure vanishes on Redis's clock, not on any process's clock;
 *  - its id in the sorted set `<prefix>:health:apis`, scored by when it wrote (ids not seen for
 *    API_SEEN_WITHIN_MS removed on each write), which tells the readers which keys to read.
 * So Redis holds one key per live API process and one set, whatever the traffic or the tenants.
 */
import { type IntervalHistogram, monitorEventLoopDelay } from 'node:perf_hooks';
import type { RedisClient } from '../publish/publisher';

export const HEALTH_INTERVAL_MS = 250;
/** A health key outlives a few missed writes, not more: a missing key reads as healthy. */
export const HEALTH_TTL_MS = 2_000;
/** How long an id stays in the set of API processes after its last write (bounds the set). */
export const API_SEEN_WITHIN_MS = 60_000;
/** The timer whose lateness is measured; finer costs more wake-ups for no better signal. */
const RESOLUTION_MS = 10;

export const apiHealthKeys = (prefix: string) => ({
  apis: `${prefix}:health:apis`,
  api: (id: string) => `${prefix}:health:api:${id}`,
});

/** One API process's health over its last window. */
export interface ApiHealth {
  /** The 99th percentile of how late the event loop's timer fired, in ms (0 = on time). */
  delayP99Ms: number;
  /** The mean number of its requests waiting for a Postgres connection (0 = none waited). */
  dbWaitingMean: number;
  /**
   * The share of the window's samples in which the process had a Postgres connection in use
   * (0-1): how busy serving requests it was. Absent when it has no pool to sample.
   */
  busyShare?: number;
}

/**
 * An API process busy in less than this share of its window serves few requests: its late event
 * loop makes next to nobody wait, so its delay is not a reason to slow a backfill. Measured on the
 * benchmark's API: polled about 20 times a second beside a backfill, busy in a tenth of a window
 * at the median and a fifth at the p90, with single windows 70-140 ms late on a loaded machine; at
 * 500 toggles/s, busy in 60-80% of a window at the median.
 */
export const API_BUSY_SHARE_MIN = 0.25;

export interface ApiHealthPublisherOptions {
  redis: RedisClient;
  /** The queue prefix: the workers read the keys under the same one. */
  prefix: string;
  /** Unique per process (host and pid, say). */
  id: string;
  /**
   * The process's Postgres pool, whose queue of requests waiting for a connection is sampled, and
   * whether a connection is in use (pg's Pool has all three counts).
   */
  pool?: {
    readonly waitingCount: number;
    readonly totalCount?: number;
    readonly idleCount?: number;
  };
  intervalMs?: number;
  onError?: (error: unknown) => void;
}

export interface ApiHealthPublisher {
  /** Stops measuring and removes this process's key (readers then see it healthy). */
  stop(): Promise<void>;
}

export function startApiHealthPublisher(options: ApiHealthPublisherOptions): ApiHealthPublisher {
  const keys = apiHealthKeys(options.prefix);
  const histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  histogram.enable();
  const waiting = { sum: 0, samples: 0, busy: 0 };
  const { pool } = options;
  const canTellBusy = pool?.totalCount !== undefined && pool.idleCount !== undefined;
  const sampler = pool
    ? setInterval(() => {
        waiting.sum += pool.waitingCount;
        waiting.samples += 1;
        if ((pool.totalCount ?? 0) - (pool.idleCount ?? 0) > 0 || pool.waitingCount > 0) {
          waiting.busy += 1;
        }
      }, RESOLUTION_MS)
    : undefined;
  sampler?.unref();
  const intervalMs = options.intervalMs ?? HEALTH_INTERVAL_MS;
  let writing = false;
  let last = performance.now();
  const publish = async () => {
    // This timer's own lateness counts too: a loop blocked for the whole window has no
    // histogram sample in it yet.
    const late = performance.now() - last - intervalMs;
    last = performance.now();
    // A write still out (a Redis that does not answer) is not doubled by the next.
    if (writing) return;
    writing = true;
    const health = windowHealth(histogram, late, waiting, canTellBusy);
    histogram.reset();
    waiting.sum = 0;
    waiting.samples = 0;
    waiting.busy = 0;
    const now = Date.now();
    try {
      await options.redis
        .multi()
        .set(keys.api(options.id), JSON.stringify(health), 'PX', HEALTH_TTL_MS)
        .zadd(keys.apis, now, options.id)
        .zremrangebyscore(keys.apis, '-inf', now - API_SEEN_WITHIN_MS)
        .pexpire(keys.apis, API_SEEN_WITHIN_MS)
        .exec();
    } catch (error) {
      options.onError?.(error);
    } finally {
      writing = false;
    }
  };
  const timer = setInterval(() => void publish(), intervalMs);
  timer.unref();
  return {
    stop: async () => {
      clearInterval(timer);
      clearInterval(sampler);
      histogram.disable();
      try {
        await options.redis.multi().del(keys.api(options.id)).zrem(keys.apis, options.id).exec();
      } catch (error) {
        options.onError?.(error);
      }
    },
  };
}

/**
 * The histogram counts whole intervals between its timer's firings, so the delay is what is past
 * the resolution; `lateMs` is how late the publishing timer itself fired.
 */
function windowHealth(
  histogram: IntervalHistogram,
  lateMs: number,
  waiting: { sum: number; samples: number; busy: number },
  canTellBusy: boolean,
): ApiHealth {
  const p99Ms = histogram.count > 0 ? histogram.percentile(99) / 1e6 - RESOLUTION_MS : 0;
  const round = (value: number) => Math.round(value * 10) / 10;
  return {
    delayP99Ms: round(Math.max(0, p99Ms, lateMs)),
    dbWaitingMean: round(waiting.samples > 0 ? waiting.sum / waiting.samples : 0),
    ...(canTellBusy && waiting.samples > 0
      ? { busyShare: Math.round((100 * waiting.busy) / waiting.samples) / 100 }
      : {}),
  };
}

/**
 * Reads the API processes' health for a worker's guard in one round trip: the ids in the set, and
 * the keys of the ids the previous read found (another API process that starts is read from the
 * next probe on; when none was known, a second round trip reads the new ones at once). Missing or
 * unparsable keys are left out: no API running, or one stopped, reads as healthy.
 */
export class ApiHealthReader {
  private ids: string[] = [];

  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
  ) {}

  /**
   * The worst figures over the API processes (each its own worst: the id is the process with the
   * worst delay), or null when none reported within HEALTH_TTL_MS. The delay of a process busy in
   * less than API_BUSY_SHARE_MIN of its window reads as 0: nobody waits for it.
   */
  async worst(): Promise<(ApiHealth & { id: string }) | null> {
    const keys = apiHealthKeys(this.prefix);
    const ids = [...this.ids];
    const pipeline = this.redis
      .pipeline()
      .zrangebyscore(keys.apis, Date.now() - API_SEEN_WITHIN_MS, '+inf');
    if (ids.length > 0) pipeline.mget(...ids.map((id) => keys.api(id)));
    const [listed, values] = (await pipeline.exec()) ?? [];
    if (listed?.[0]) throw listed[0];
    this.ids = (listed?.[1] as string[] | undefined) ?? [];
    let read = (values?.[1] as (string | null)[] | undefined) ?? [];
    if (ids.length === 0 && this.ids.length > 0) {
      // The first read, or the first API process to appear: read it now, not a probe later.
      ids.push(...this.ids);
      read = await this.redis.mget(...ids.map((id) => keys.api(id)));
    }
    let worst: (ApiHealth & { id: string }) | null = null;
    read.forEach((value, i) => {
      const parsed = parseHealth(value);
      const id = ids[i];
      if (!parsed || id === undefined) return;
      const idle = parsed.busyShare !== undefined && parsed.busyShare < API_BUSY_SHARE_MIN;
      const health = idle ? { ...parsed, delayP99Ms: 0 } : parsed;
      const dbWaitingMean = Math.max(health.dbWaitingMean, worst?.dbWaitingMean ?? 0);
      worst =
        !worst || health.delayP99Ms > worst.delayP99Ms
          ? { ...health, dbWaitingMean, id }
          : { ...worst, dbWaitingMean };
    });
    return worst;
  }
}

function parseHealth(value: string | null): ApiHealth | null {
  if (!value) return null;
  try {
    const parsed = JSON.parse(value) as Partial<ApiHealth>;
    const figure = (n: unknown) => (typeof n === 'number' && Number.isFinite(n) ? n : null);
    const delayP99Ms = figure(parsed.delayP99Ms);
    const busyShare = figure(parsed.busyShare);
    return delayP99Ms === null
      ? null
      : {
          delayP99Ms,
          dbWaitingMean: figure(parsed.dbWaitingMean) ?? 0,
          ...(busyShare === null ? {} : { busyShare }),
        };
  } catch {
    return null;
  }
}
