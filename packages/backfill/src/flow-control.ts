/**
 * Flow control: a backfill waits while a consumer group of its target stream holds more
 * unacknowledged entries (not yet delivered + delivered but not acknowledged) than the bound, so a
 * slow consumer cannot make a large backfill fill Redis's memory. Streams without consumer groups
 * have nobody to wait for.
 */
import { consumerGroups } from '@historical-sync/consumer';
import type { RedisClient } from './publisher';

/** The largest backlog among the stream's consumer groups (0 without groups). */
export async function streamBacklog(redis: RedisClient, stream: string): Promise<number> {
  // lag is null when Redis cannot tell (e.g. after deletions); pending is then the best known.
  const backlogs = (await consumerGroups(redis, stream)).map((g) => (g.lag ?? 0) + g.pending);
  return Math.max(0, ...backlogs);
}

/**
 * Resolves once the stream's backlog is at or below `bound`, checking every `intervalMs`;
 * `shouldStop` ends the wait early (pause, cancel, shutdown). Returns how long it waited: 0 when
 * the backlog was within the bound at once (the check's own time is not a wait).
 */
export async function waitForBacklog(
  redis: RedisClient,
  stream: string,
  bound: number,
  shouldStop: () => Promise<boolean> | boolean,
  intervalMs = 250,
): Promise<number> {
  const started = Date.now();
  let waited = false;
  while ((await streamBacklog(redis, stream)) > bound) {
    waited = true;
    if (await shouldStop()) break;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  return waited ? Date.now() - started : 0;
}
