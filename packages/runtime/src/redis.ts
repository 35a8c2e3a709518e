import { Cluster, Redis, type RedisOptions } from 'ioredis';

/** `redis+cluster://host1:port1,host2:port2` names a Redis Cluster by some of its nodes. */
export const CLUSTER_SCHEME = 'redis+cluster://';

/**
 * A Redis connection (or a Cluster client, for a `redis+cluster://` URL) for BullMQ, the
 * publisher, the relay and consumers. By default `maxRetriesPerRequest: null` lets commands wait
 * through a Redis restart instead of failing (BullMQ requires it for workers); pass `options` to
 * change that, e.g. to fail fast.
 */
export function createRedis(
  url: string,
  connectionName: string,
  options: RedisOptions = {},
): Redis | Cluster {
  const redisOptions: RedisOptions = { maxRetriesPerRequest: null, connectionName, ...options };
  if (url.startsWith(CLUSTER_SCHEME)) {
    const nodes = url
      .slice(CLUSTER_SCHEME.length)
      .split(',')
      .map((node) => {
        const [host = '127.0.0.1', port = '6379'] = node.split(':');
        return { host, port: Number(port) };
      });
    return new Cluster(nodes, {
      redisOptions,
      enableOfflineQueue: options.enableOfflineQueue ?? true,
    });
  }
  return new Redis(url, redisOptions);
}
