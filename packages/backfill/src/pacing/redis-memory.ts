/**
 * Redis's memory against its `maxmemory`, for the backfill's flow control: a backfill slows down
 * before Redis refuses writes for memory (with `noeviction` it then refuses every write, for every
 * tenant: control keys, the relay, the queues). Read from `INFO memory` at most every half second
 * per client; on Redis Cluster, the fullest master counts (a page's stream can be on any).
 */
import type { Cluster, Redis } from 'ioredis';
import type { RedisClient } from '../publish/publisher';

export interface RedisMemory {
  usedBytes: number;
  /** 0 when no limit is set. */
  maxBytes: number;
}

const CACHE_MS = 500;
const cache = new WeakMap<
  RedisClient,
  { at: number; memory: Promise<RedisMemory>; publishedSince: number }
>();

function parseMemory(info: string): RedisMemory {
  const field = (name: string) => Number(new RegExp(`^${name}:(\\d+)`, 'm').exec(info)?.[1] ?? 0);
  return { usedBytes: field('used_memory'), maxBytes: field('maxmemory') };
}

async function readMemory(redis: RedisClient): Promise<RedisMemory> {
  if ((redis as Cluster).isCluster) {
    const nodes = (redis as Cluster).nodes('master');
    const all = await Promise.all(
      nodes.map(async (node) => parseMemory(await node.info('memory'))),
    );
    return all.reduce(
      (fullest, m) => (ratio(m) > ratio(fullest) ? m : fullest),
      all[0] ?? {
        usedBytes: 0,
        maxBytes: 0,
      },
    );
  }
  return parseMemory(await (redis as Redis).info('memory'));
}

/** used / max; 0 when Redis has no limit. */
export const ratio = (memory: RedisMemory): number =>
  memory.maxBytes > 0 ? memory.usedBytes / memory.maxBytes : 0;

/**
 * Counts bytes this process has just published on `redis`: until the next reading they are added
 * to the cached one. A backfill publishes many pages in the half second a reading is kept (at
 * 100,000 events a second, tens of megabytes), so a reading alone lets it pass the high mark by
 * that much before it parks, and a small `maxmemory` refuse its writes first.
 */
export function notePublished(redis: RedisClient, bytes: number): void {
  const cached = cache.get(redis);
  if (cached) cached.publishedSince += bytes;
}

/**
 * Redis's memory now: a reading at most half a second old, plus what this process published
 * since (notePublished; other processes' writes show at the next reading).
 */
export async function redisMemory(redis: RedisClient): Promise<RedisMemory> {
  const cached = cache.get(redis);
  if (cached && performance.now() - cached.at < CACHE_MS) {
    const memory = await cached.memory;
    return { ...memory, usedBytes: memory.usedBytes + cached.publishedSince };
  }
  const memory = readMemory(redis);
  cache.set(redis, { at: performance.now(), memory, publishedSince: 0 });
  memory.catch(() => cache.delete(redis));
  return memory;
}
