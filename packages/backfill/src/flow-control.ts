/**
 * Flow control: a backfill waits while a consumer group of its target stream holds more
 * unacknowledged entries (not yet delivered + delivered but not acknowledged) than the bound, so a
 * slow consumer cannot make a large backfill fill Redis's memory. Streams without consumer groups
 * have nobody to wait for. A job over the bound parks (delayed) and looks again, so waiting holds
 * no worker slot (resource-processor.ts).
 */
import { consumerGroups } from '@historical-sync/consumer';
import type { RedisClient } from './publisher';

/**
 * The largest backlog among the stream's consumer groups (0 without groups).
 *
 * A group's lag is null when Redis cannot count it: entries were deleted (XDEL) between the
 * group's last delivered entry and the stream's last one. Unknown is not 0, even with nothing
 * pending: a group that has been delivered the stream's last entry has a known lag (0), so an
 * unknown one most likely has entries ahead it has not read, perhaps all of them, and counted as
 * 0 a group nobody reads would never slow the backfill. It counts as the stream's length instead:
 * every entry not yet delivered is in the stream (and so, unless trimmed, is every pending one),
 * so this may overstate the backlog, never understate it. The overstatement lasts until a live
 * consumer is delivered the stream's last entry, when Redis knows the lag again.
 */
export async function streamBacklog(redis: RedisClient, stream: string): Promise<number> {
  const groups = await consumerGroups(redis, stream);
  const length = groups.some((g) => g.lag === null) ? await redis.xlen(stream) : 0;
  const backlogs = groups.map((g) =>
    g.lag === null ? Math.max(length, g.pending) : g.lag + g.pending,
  );
  return Math.max(0, ...backlogs);
}
