/**
 * Retention by acknowledgement: a stream keeps what some consumer group has not acknowledged yet,
 * and what is younger than the retention window; everything older that every group has
 * acknowledged is trimmed (`XTRIM MINID`). So Redis holds what is in flight, not every entry ever
 * published.
 *
 * The floor is worked out and applied by one script on the stream's own node, so no group can move
 * between the reading and the trim, and it runs as it is on Redis Cluster (one key per call). A
 * group's floor is its oldest pending entry, or else its last-delivered id: nothing a group has not
 * read, or read and not acknowledged, is ever trimmed, however idle the group. A stream with no
 * group keeps its entries for the longer ungrouped window (an application enabled before its
 * consumer first started reads them then), after which they go by age; `streamReport` tells.
 *
 * Redis 7.0 and later (XINFO GROUPS, XTRIM MINID, script flags). Redis 8.2's acknowledgement-aware
 * deletion (XACKDEL, XTRIM … ACKED) would move the work to the consumers' acknowledgements; this
 * works on every supported server, and one call per stream every few seconds is cheap.
 */
import { applicationStreams, verifyRequestStream } from '@historical-sync/contracts';
import type { Db } from '@historical-sync/db';
import { evalScript, script } from '@historical-sync/runtime';
import type { RedisClient } from '../publish/publisher';
import type { StreamRetention } from '../settings';

/**
 * KEYS: stream. ARGV: window ms, ungrouped window ms, limit. Returns the entries trimmed.
 * `allow-oom`: trimming is what frees memory, so it must run when Redis refuses writes for memory.
 * XTRIM with `~` trims whole macro nodes and at most LIMIT entries a call (a short call, however
 * long the stream); the caller calls again until a call trims nothing.
 */
const TRIM_ACKNOWLEDGED = script(
  1,
  `#!lua flags=allow-oom
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local function parse(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end
local function before(a, b)
  local am, as = parse(a)
  local bm, bs = parse(b)
  return am < bm or (am == bm and as < bs)
end
local now = redis.call('TIME')
local nowMs = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local groups = redis.call('XINFO', 'GROUPS', KEYS[1])
local windowMs = tonumber(ARGV[1])
if #groups == 0 then windowMs = tonumber(ARGV[2]) end
local floor = string.format('%d-0', math.max(0, nowMs - windowMs))
for _, fields in ipairs(groups) do
  local info = {}
  for i = 1, #fields, 2 do info[fields[i]] = fields[i + 1] end
  local safe = info['last-delivered-id']
  if tonumber(info['pending']) > 0 then
    safe = redis.call('XPENDING', KEYS[1], info['name'])[2]
  end
  if before(safe, floor) then floor = safe end
end
return redis.call('XTRIM', KEYS[1], 'MINID', '~', floor, 'LIMIT', ARGV[3])
`,
);

/** Entries one trim call removes at most: a few milliseconds of Redis's time. */
const TRIM_LIMIT = 10_000;

export type RetentionSettings = Pick<StreamRetention, 'windowMs' | 'ungroupedWindowMs'>;

/** Trims one stream down to what its groups still need and its window keeps; entries removed. */
export async function trimStream(
  redis: RedisClient,
  stream: string,
  settings: RetentionSettings,
): Promise<number> {
  let total = 0;
  for (;;) {
    const trimmed = (await evalScript(
      redis,
      TRIM_ACKNOWLEDGED,
      [stream],
      [settings.windowMs, settings.ungroupedWindowMs, TRIM_LIMIT],
    )) as number;
    total += trimmed;
    // `~` trims whole nodes up to the limit, so a call can stop short of it with more to go:
    // only a call that trimmed nothing has reached the floor.
    if (trimmed === 0) return total;
  }
}

/**
 * Every stream the system writes to: each application's streams (credit events shared) and its
 * verification requests (contracts, verify.ts).
 */
export async function systemStreams(db: Db, streamPrefix: string): Promise<string[]> {
  const applications = await db.selectFrom('applications').select('code').execute();
  return [
    ...new Set(
      applications.flatMap((a) => [
        ...applicationStreams(a.code, streamPrefix),
        verifyRequestStream(a.code, streamPrefix),
      ]),
    ),
  ].sort();
}

/** Trims every stream the system writes; entries removed per stream (only those trimmed). */
export async function trimSystemStreams(
  deps: { db: Db; redis: RedisClient; streamPrefix: string },
  settings: RetentionSettings,
): Promise<Record<string, number>> {
  const removed: Record<string, number> = {};
  for (const stream of await systemStreams(deps.db, deps.streamPrefix)) {
    const n = await trimStream(deps.redis, stream, settings);
    if (n > 0) removed[stream] = n;
  }
  return removed;
}

/** The retention's keys in Redis, under the queue prefix. */
export const retentionKeys = (queuePrefix: string) => ({
  lease: `${queuePrefix}:stream-retention:lease`,
  lastPass: `${queuePrefix}:stream-retention:last`,
});

/** When the streams were last trimmed (ms since the epoch) and entries removed then; null if never. */
export async function lastRetentionPass(
  redis: RedisClient,
  queuePrefix: string,
): Promise<{ at: number; removed: number } | null> {
  const [at, removed] = await redis.hmget(retentionKeys(queuePrefix).lastPass, 'at', 'removed');
  return at ? { at: Number(at), removed: Number(removed ?? 0) } : null;
}

/**
 * One pass of retention for a process that trims on a schedule (the worker's sweeper role): every
 * stream, one process at a time. A lease in Redis names the process that trims for the next few
 * intervals. Out of memory Redis refuses the lease, and then every process trims (a trim is safe
 * to run twice), since trimming is what frees memory. `release` gives the lease up on stop.
 */
export function streamRetention(options: {
  db: Db;
  redis: RedisClient;
  streamPrefix: string;
  /** Where the lease and the last pass are kept (under the queue prefix: `retentionKeys`). */
  keys: { lease: string; lastPass: string };
  /** How often passes run: the lease lasts three of them. */
  intervalMs: number;
  settings: RetentionSettings;
  onTrimmed?: (removed: Record<string, number>) => void;
}): { pass(): Promise<void>; release(): Promise<void> } {
  const holder = `${process.pid}:${Math.random().toString(36).slice(2)}`;
  const leaseMs = options.intervalMs * 3;
  return {
    pass: async () => {
      const lease = await options.redis.set(options.keys.lease, holder, 'PX', leaseMs, 'NX').then(
        async (taken) => taken === 'OK' || (await options.redis.get(options.keys.lease)) === holder,
        (error: unknown) => /OOM/.test(String(error)),
      );
      if (!lease) return;
      await options.redis.pexpire(options.keys.lease, leaseMs).catch(() => {});
      const removed = await trimSystemStreams(options, options.settings);
      if (Object.keys(removed).length > 0) options.onTrimmed?.(removed);
      // When the streams were last trimmed, and how much: the System page shows it. Refused out
      // of memory, like any write; the next pass records it.
      const entries = Object.values(removed).reduce((sum, n) => sum + n, 0);
      await options.redis
        .hset(options.keys.lastPass, 'at', Date.now(), 'removed', entries)
        .catch(() => {});
    },
    release: async () => {
      await options.redis
        .eval(
          "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0",
          1,
          options.keys.lease,
          holder,
        )
        .catch(() => {});
    },
  };
}
