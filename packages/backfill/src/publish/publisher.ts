/**
 * The atomic page publish (docs/decisions/0004-atomic-batch-publish.md,
 * docs/decisions/0009-controls-are-barriers.md), as an optimistic transaction on a connection of
 * its own (page-connections.ts):
 *
 *   WATCH checkpoint control; HMGET control; HMGET checkpoint      (one round trip)
 *   MULTI; XADD × events; HSET checkpoint; PEXPIRE checkpoint; EXEC   (a second)
 *
 * The page goes out only if the control key lets it and the checkpoint is where this attempt
 * expects it, and EXEC runs it only if neither key changed after it was read: a control, or another
 * attempt's page, between the read and EXEC makes EXEC answer null and the page is tried again
 * from the read. Redis runs EXEC without interleaving other commands, and refuses the whole
 * transaction when it is out of memory (a queued command refused, or EXEC itself), so a page is
 * published entirely or not at all, and never once a pause or cancel has set the control key
 * (run-barrier.ts). The XADDs are native commands, not a script's `redis.call` per event: that
 * loop cost Redis twice the CPU per event of the XADDs themselves (docs/PERFORMANCE.md).
 */
import { EVENT_FIELD } from '@historical-sync/contracts';
import type { Cluster, Redis } from 'ioredis';
import { backlogFromReplies } from '../pacing/flow-control';
import { command, type Reply, ReplyError, xaddPrefix } from '../redis/resp';
import { xaddBytes } from './page-bytes';
import { withPageConnection } from './page-connections';

export type RedisClient = Redis | Cluster;

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
  | { outcome: 'stopped'; control: RunControl }
  /** Flow control: a consumer group of the stream holds more than the page's `maxBacklog`. */
  | { outcome: 'backlog'; backlog: number };

/**
 * The hash tag a stream's companion keys share with it, so a transaction's keys live in one slot on
 * Redis Cluster. A stream name that already has a hash tag (e.g. a `{crm}:` prefix) keeps it;
 * otherwise the whole name becomes the tag.
 */
function slotTag(stream: string): string {
  return /\{[^}]+\}/.test(stream) ? stream : `{${stream}}`;
}

export function checkpointKey(stream: string, runId: string, resource: string): string {
  return `${slotTag(stream)}:checkpoint:${runId}:${resource}`;
}

/** The run's control key beside one of its streams: the barrier the page transaction checks. */
export function controlKey(stream: string, runId: string): string {
  return `${slotTag(stream)}:control:${runId}`;
}

export async function readCheckpoint(redis: RedisClient, key: string): Promise<Checkpoint> {
  const [cursor, published] = await redis.hmget(key, 'cursor', 'published');
  return { cursor: cursor ?? '', published: Number(published ?? 0) };
}

/** A page to publish: its events as XADD commands in RESP (resources.ts, or pageCommands). */
export interface PageToPublish {
  runId: string;
  checkpointKey: string;
  stream: string;
  expectedCursor: string;
  nextCursor: string;
  /** The page's `XADD <stream> * event <json>` commands, one per event, back to back. */
  commands: Buffer;
  events: number;
  /**
   * Flow control (flow-control.ts): the page is not published while a consumer group of the
   * stream has more entries to read or acknowledge than this; absent or null = not looked at.
   */
  maxBacklog?: number | null;
}

/** Events rendered in JavaScript (markers, tests) as a page's commands. */
export function pageCommands(stream: string, events: readonly string[]) {
  return {
    commands: xaddBytes(
      xaddPrefix(stream, EVENT_FIELD),
      events.map((e) => Buffer.from(e)),
    ),
    events: events.length,
  };
}

/** Backoff between attempts when Redis cannot be reached: it restarts, fails over, or is busy. */
const RETRY_MIN_MS = 50;
const RETRY_MAX_MS = 1_000;
/** A transaction whose watched keys keep changing is read and tried again at most this often. */
const MAX_CONFLICTS = 100;

/**
 * Publishes the page with its checkpoint, or says why not. Like the ioredis commands of the rest
 * of the worker, it waits through a lost connection (until the ioredis client is closed): an
 * attempt cut off after EXEC was sent finds the checkpoint at the page's end when it reads again,
 * and answers `stale` with that cursor, which the page loop takes as published.
 */
export async function publishPage(redis: RedisClient, page: PageToPublish): Promise<PublishResult> {
  const control = controlKey(page.stream, page.runId);
  let backoff = RETRY_MIN_MS;
  for (let conflicts = 0; ; ) {
    let result: PublishResult | 'conflict';
    try {
      result = await withPageConnection(redis, page.stream, (connection) =>
        transact(connection, page, control),
      );
    } catch (error) {
      if (redis.status === 'end' || !retryable(error)) throw error;
      // A Cluster's slot moved: ioredis learns the new map, the next attempt goes to its node.
      if (redis.isCluster && /^(MOVED|ASK) /.test((error as Error).message)) {
        (redis as Cluster).refreshSlotsCache();
      }
      await new Promise((resolve) => setTimeout(resolve, backoff));
      backoff = Math.min(RETRY_MAX_MS, backoff * 2);
      continue;
    }
    if (result !== 'conflict') return result;
    conflicts += 1;
    if (conflicts >= MAX_CONFLICTS) {
      throw new Error(
        `the checkpoint ${page.checkpointKey} kept changing during ${conflicts} tries`,
      );
    }
  }
}

async function transact(
  connection: Parameters<Parameters<typeof withPageConnection>[2]>[0],
  page: PageToPublish,
  control: string,
): Promise<PublishResult | 'conflict'> {
  // The stream's consumer groups are read in the same round trip as the watched keys: flow
  // control costs the page no exchange of its own (it was one ioredis command per page).
  const bound = page.maxBacklog ?? null;
  const reads = [
    command('WATCH', page.checkpointKey, control),
    command('HMGET', control, 'state', 'seq'),
    command('HMGET', page.checkpointKey, 'cursor', 'published'),
  ];
  if (bound !== null)
    reads.push(command('XINFO', 'GROUPS', page.stream), command('XLEN', page.stream));
  const replies = await connection.send(reads, reads.length, true);
  const [, state, checkpoint] = ok(replies.slice(0, 3)) as [
    string,
    (string | null)[],
    (string | null)[],
  ];
  const [controlState, seq] = state;
  const cursor = checkpoint[0] ?? '';
  const published = Number(checkpoint[1] ?? 0);
  if (controlState === 'paused' || controlState === 'cancelled') {
    await connection.send([command('UNWATCH')], 1, true);
    return { outcome: 'stopped', control: { state: controlState, seq: Number(seq) } };
  }
  if (cursor !== page.expectedCursor) {
    await connection.send([command('UNWATCH')], 1, true);
    return { outcome: 'stale', cursor, published };
  }
  if (bound !== null) {
    // XINFO answers an error for a stream not created yet (no groups); XLEN cannot fail here but
    // for a key of the wrong type, which the XADDs would refuse too.
    const length = replies[4];
    if (length instanceof ReplyError) throw length;
    const backlog = backlogFromReplies(replies[3], length);
    if (backlog > bound) {
      await connection.send([command('UNWATCH')], 1, true);
      return { outcome: 'backlog', backlog };
    }
  }
  const total = published + page.events;
  const sent = await connection.send(
    [
      command('MULTI'),
      page.commands,
      command('HSET', page.checkpointKey, 'cursor', page.nextCursor, 'published', total),
      command('PEXPIRE', page.checkpointKey, CHECKPOINT_TTL_MS),
      command('EXEC'),
    ],
    page.events + 4,
    false,
  );
  const executed = sent[sent.length - 1];
  // A command refused while queued (out of memory, say) makes EXEC refuse all of them.
  ok(sent);
  if (executed === null) return 'conflict';
  ok(executed as Reply[]);
  return { outcome: 'published', cursor: page.nextCursor, published: total };
}

/**
 * Errors that pass on their own: a lost connection, a Cluster's slot on the move or its failover,
 * Redis loading its data. Any other error reply (out of memory, a key of the wrong type) fails the
 * attempt, and the job's retries take it from there.
 */
function retryable(error: unknown): boolean {
  if (!(error instanceof ReplyError)) return true;
  return /^(MOVED|ASK|TRYAGAIN|CLUSTERDOWN|LOADING|MASTERDOWN|READONLY) /.test(error.message);
}

/** The replies, or the first error among them thrown. */
function ok(replies: Reply[]): Reply[] {
  for (const reply of replies) if (reply instanceof ReplyError) throw reply;
  return replies;
}
