/**
 * The atomic page publish (DESIGN.md decisions 4 and 9): one Lua call checks the run's control
 * key and its checkpoint, XADDs every event of the page and advances the checkpoint. Redis runs a
 * script without interleaving other commands, and the `#!lua` header makes Redis refuse the whole
 * script up front when it is out of memory, so a page is published entirely or not at all, and
 * never once a pause or cancel has set the control key (see run-barrier.ts).
 */
import { EVENT_FIELD } from '@historical-sync/contracts';
import type { Cluster, Redis } from 'ioredis';
import { evalScript, type Script, script } from './redis-script';

export type RedisClient = Redis | Cluster;

/**
 * KEYS: checkpoint, stream, control. ARGV: expected cursor, next cursor, checkpoint TTL, events.
 * Replies {1, cursor, published} when published, {0, cursor, published} when the checkpoint is
 * elsewhere (another attempt owns the job), {2, state, seq} when the run's control key stops it.
 */
const PUBLISH_PAGE: Script = script(
  3,
  `#!lua
local control = redis.call('HMGET', KEYS[3], 'state', 'seq')
if control[1] == 'paused' or control[1] == 'cancelled' then
  return {2, control[1], tonumber(control[2])}
end
local cursor = redis.call('HGET', KEYS[1], 'cursor') or ''
local published = tonumber(redis.call('HGET', KEYS[1], 'published') or '0')
if cursor ~= ARGV[1] then
  return {0, cursor, published}
end
for i = 4, #ARGV do
  redis.call('XADD', KEYS[2], '*', '${EVENT_FIELD}', ARGV[i])
end
published = published + (#ARGV - 3)
redis.call('HSET', KEYS[1], 'cursor', ARGV[2], 'published', published)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return {1, ARGV[2], published}
`,
);

/**
 * Checkpoints, control keys (and markers' keys) outlive the 30 days a failed job is kept for
 * retry: a retry or a resume within that time continues from its checkpoint. Then Redis drops them.
 */
export const CHECKPOINT_TTL_MS = 35 * 24 * 3600 * 1000;

export interface Checkpoint {
  /** Id of the last published row; '' before the first page. */
  cursor: string;
  published: number;
}

/** What a run's control key said when it refused a page. */
export interface RunControl {
  state: 'paused' | 'cancelled';
  seq: number;
}

export type PublishResult =
  | ({ outcome: 'published' } & Checkpoint)
  | ({ outcome: 'stale' } & Checkpoint)
  | { outcome: 'stopped'; control: RunControl };

/**
 * The hash tag a stream's companion keys share with it, so a script's keys live in one slot on
 * Redis Cluster. A stream name that already has a hash tag (e.g. a `{crm}:` prefix) keeps it;
 * otherwise the whole name becomes the tag.
 */
function slotTag(stream: string): string {
  return /\{[^}]+\}/.test(stream) ? stream : `{${stream}}`;
}

export function checkpointKey(stream: string, runId: string, resource: string): string {
  return `${slotTag(stream)}:checkpoint:${runId}:${resource}`;
}

/** The run's control key beside one of its streams: the barrier the publish script checks. */
export function controlKey(stream: string, runId: string): string {
  return `${slotTag(stream)}:control:${runId}`;
}

export async function readCheckpoint(redis: RedisClient, key: string): Promise<Checkpoint> {
  const [cursor, published] = await redis.hmget(key, 'cursor', 'published');
  return { cursor: cursor ?? '', published: Number(published ?? 0) };
}

export async function publishPage(
  redis: RedisClient,
  page: {
    runId: string;
    checkpointKey: string;
    stream: string;
    expectedCursor: string;
    nextCursor: string;
    events: string[];
  },
): Promise<PublishResult> {
  const reply = (await evalScript(
    redis,
    PUBLISH_PAGE,
    [page.checkpointKey, page.stream, controlKey(page.stream, page.runId)],
    [page.expectedCursor, page.nextCursor, String(CHECKPOINT_TTL_MS), ...page.events],
  )) as [number, string, number];
  if (reply[0] === 2) {
    return {
      outcome: 'stopped',
      control: { state: reply[1] as RunControl['state'], seq: Number(reply[2]) },
    };
  }
  return {
    outcome: reply[0] === 1 ? 'published' : 'stale',
    cursor: String(reply[1]),
    published: Number(reply[2]),
  };
}
