/**
 * Flow control: a backfill waits while a consumer group of its target stream holds more
 * unacknowledged entries (not yet delivered + delivered but not acknowledged) than the bound, so a
 * slow consumer cannot make a large backfill fill Redis's memory. Streams without consumer groups
 * have nobody to wait for. A job over the bound parks (delayed) and looks again, so waiting holds
 * no worker slot (resource-processor.ts).
 */
import { consumerGroups } from '@historical-sync/consumer';
import type { RedisClient } from './publisher';

/** The largest backlog among the stream's consumer groups (0 without groups). */
export async function streamBacklog(redis: RedisClient, stream: string): Promise<number> {
  // lag is null when Redis cannot tell (e.g. after deletions); pending is then the best known.
  const backlogs = (await consumerGroups(redis, stream)).map((g) => (g.lag ?? 0) + g.pending);
  return Math.max(0, ...backlogs);
}
