/**
 * A run-wide publish rate limit shared by every worker and resource of the run: GCRA on one Redis
 * key holding the run's "theoretical arrival time". Each page reserves its events and is told how
 * long to wait before publishing, so the run's rate stays at or below the limit overall.
 */

import { evalScript, script } from '@historical-sync/runtime';
import type { RedisClient } from '../publish/publisher';

/**
 * KEYS: the run's throttle key. ARGV: events, ms per event, the longest wait to reserve for.
 * Returns the wait before the events may go; a wait over the longest is returned without
 * reserving anything, so a job that parks instead of waiting takes nothing from the run's rate.
 */
const RESERVE = script(
  1,
  `
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now_ms then tat = now_ms end
local wait = math.floor(tat - now_ms)
if wait > tonumber(ARGV[3]) then return wait end
local new_tat = tat + tonumber(ARGV[1]) * tonumber(ARGV[2])
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', math.floor(new_tat - now_ms) + 60000)
return wait
`,
);

/**
 * Reserves `events` at `maxEventsPerSecond` for the run and answers how long to wait before
 * publishing them. The first page goes at once; later ones are spaced so the total rate holds.
 * A wait longer than `maxWaitMs` reserves nothing: the caller parks its job for that long and
 * asks again.
 */
export async function reserveRate(
  redis: RedisClient,
  runId: string,
  events: number,
  maxEventsPerSecond: number,
  options: { maxWaitMs: number },
): Promise<number> {
  const msPerEvent = 1000 / maxEventsPerSecond;
  return Number(
    await evalScript(
      redis,
      RESERVE,
      [`{hs-throttle}:${runId}`],
      [events, msPerEvent, options.maxWaitMs],
    ),
  );
}
