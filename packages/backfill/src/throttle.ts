/**
 * A run-wide publish rate limit shared by every worker and resource of the run: GCRA on one Redis
 * key holding the run's "theoretical arrival time". Each page reserves its events and is told how
 * long to wait before publishing, so the run's rate stays at or below the limit overall.
 */
import type { RedisClient } from './publisher';

const RESERVE_LUA = `
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now_ms then tat = now_ms end
local new_tat = tat + tonumber(ARGV[1]) * tonumber(ARGV[2])
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', math.floor(new_tat - now_ms) + 60000)
return math.floor(tat - now_ms)
`;

/**
 * Reserves `events` at `maxEventsPerSecond` for the run and resolves when they may be published.
 * The first page goes at once; later ones are spaced so the total rate holds.
 */
export async function throttle(
  redis: RedisClient,
  runId: string,
  events: number,
  maxEventsPerSecond: number,
  shouldStop: () => Promise<boolean>,
): Promise<number> {
  const msPerEvent = 1000 / maxEventsPerSecond;
  const waitMs = Number(
    await redis.eval(RESERVE_LUA, 1, `{hs-throttle}:${runId}`, String(events), String(msPerEvent)),
  );
  // Wait in short slices, so a pause, a cancel or a shutdown is not held up by a slow rate.
  const until = Date.now() + waitMs;
  while (Date.now() < until && !(await shouldStop())) {
    await new Promise((resolve) => setTimeout(resolve, Math.min(250, until - Date.now())));
  }
  return waitMs;
}
