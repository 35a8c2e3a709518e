/**
 * Flow control: a backfill waits while a consumer group of its target stream holds more
 * unacknowledged entries (not yet delivered + delivered but not acknowledged) than the bound, so a
 * slow consumer cannot make a large backfill fill Redis's memory. Streams without consumer groups
 * have nobody to wait for. A job over the bound parks (delayed) and looks again, so waiting holds
 * no worker slot (resource-processor.ts).
 */

import type { Cluster, Redis } from 'ioredis';
import { type Reply, ReplyError } from '../redis/resp';
import { streamGroups } from '../redis/stream-groups';

/** What flow control needs of a consumer group. */
interface GroupLag {
  /** Entries not yet delivered to the group; null when Redis cannot count them. */
  lag: number | null;
  /** Delivered, not acknowledged. */
  pending: number;
}

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
export async function streamBacklog(redis: Redis | Cluster, stream: string): Promise<number> {
  const groups = await streamGroups(redis, stream);
  const length = groups.some((g) => g.lag === null) ? await redis.xlen(stream) : 0;
  return backlogOf(groups, length);
}

function backlogOf(groups: readonly GroupLag[], length: number): number {
  const backlogs = groups.map((g) =>
    g.lag === null ? Math.max(length, g.pending) : g.lag + g.pending,
  );
  return Math.max(0, ...backlogs);
}

/**
 * The same backlog from the raw replies of `XINFO GROUPS <stream>` and `XLEN <stream>`, as the
 * page transaction reads them in its first round trip (publisher.ts): a stream that does not exist
 * yet answers XINFO with an error, and has no groups.
 */
export function backlogFromReplies(groups: Reply, length: Reply): number {
  if (groups instanceof ReplyError || !Array.isArray(groups)) return 0;
  const lags = groups.map((fields): GroupLag => {
    const info = new Map<string, Reply>();
    if (Array.isArray(fields)) {
      for (let i = 0; i + 1 < fields.length; i += 2) info.set(String(fields[i]), fields[i + 1]);
    }
    const lag = info.get('lag');
    return {
      lag: lag === null || lag === undefined ? null : Number(lag),
      pending: Number(info.get('pending') ?? 0),
    };
  });
  return backlogOf(lags, typeof length === 'number' ? length : 0);
}
