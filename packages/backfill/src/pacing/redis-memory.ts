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
const cache = new WeakMap<RedisClient, { at: number; memory: Promise<RedisMemory> }>();

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

/** Redis's memory now (at most half a second old). */
export async function redisMemory(redis: RedisClient): Promise<RedisMemory> {
  const cached = cache.get(redis);
  if (cached && performance.now() - cached.at < CACHE_MS) return cached.memory;
  const memory = readMemory(redis);
  cache.set(redis, { at: performance.now(), memory });
  memory.catch(() => cache.delete(redis));
  return memory;
}
