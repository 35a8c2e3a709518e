/**
 * The atomic page publish (DESIGN.md decision 4): one Lua call checks the checkpoint, XADDs every
 * event of the page and advances the checkpoint. Redis runs a script without interleaving other
 * commands, and the `#!lua` header makes Redis refuse the whole script up front when it is out of
 * memory, so a page is published entirely or not at all.
 */
import { createHash } from 'node:crypto';
import { EVENT_FIELD } from '@historical-sync/contracts';
import type { Cluster, Redis } from 'ioredis';

const PUBLISH_PAGE_LUA = `#!lua
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
`;
const PUBLISH_PAGE_SHA = createHash('sha1').update(PUBLISH_PAGE_LUA).digest('hex');

/**
 * Checkpoints (and markers' keys) outlive the 30 days a failed job is kept for retry: a retry or a
 * resume within that time continues from its checkpoint. Then Redis drops them.
 */
const CHECKPOINT_TTL_MS = 35 * 24 * 3600 * 1000;

export type RedisClient = Redis | Cluster;

export interface Checkpoint {
  /** Id of the last published row; '' before the first page. */
  cursor: string;
  published: number;
}

export interface PublishResult extends Checkpoint {
  ok: boolean;
}

/**
 * The checkpoint key shares the stream's hash tag (the whole stream name in braces), so the
 * script's two keys live in one slot on Redis Cluster.
 */
export function checkpointKey(stream: string, runId: string, resource: string): string {
  // A stream name that already has a hash tag (e.g. a `{crm}:` prefix) keeps it; otherwise the
  // whole name becomes the tag. Either way both keys hash to the stream's slot.
  const tag = /\{[^}]+\}/.test(stream) ? stream : `{${stream}}`;
  return `${tag}:checkpoint:${runId}:${resource}`;
}

export async function readCheckpoint(redis: RedisClient, key: string): Promise<Checkpoint> {
  const [cursor, published] = await redis.hmget(key, 'cursor', 'published');
  return { cursor: cursor ?? '', published: Number(published ?? 0) };
}

export async function publishPage(
  redis: RedisClient,
  page: {
    checkpointKey: string;
    stream: string;
    expectedCursor: string;
    nextCursor: string;
    events: string[];
  },
): Promise<PublishResult> {
  const keys = [page.checkpointKey, page.stream];
  const args = [page.expectedCursor, page.nextCursor, String(CHECKPOINT_TTL_MS), ...page.events];
  let reply: [number, string, number];
  try {
    reply = (await redis.evalsha(PUBLISH_PAGE_SHA, keys.length, ...keys, ...args)) as typeof reply;
  } catch (error) {
    if (!(error instanceof Error) || !error.message.includes('NOSCRIPT')) throw error;
    reply = (await redis.eval(PUBLISH_PAGE_LUA, keys.length, ...keys, ...args)) as typeof reply;
  }
  return { ok: reply[0] === 1, cursor: String(reply[1]), published: Number(reply[2]) };
}
