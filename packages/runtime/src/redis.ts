import { Redis } from 'ioredis';

/**
 * A Redis connection for BullMQ and the publisher. `maxRetriesPerRequest: null` lets commands
 * wait through a Redis restart instead of failing (BullMQ requires it for workers).
 */
export function createRedis(url: string, connectionName: string): Redis {
  return new Redis(url, { maxRetriesPerRequest: null, connectionName });
}
