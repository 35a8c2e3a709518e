/**
 * A Redis Streams consumer for historical-sync events. It creates its group idempotently, reads
 * several streams at once with XREADGROUP (blocking, batched), acknowledges an entry only after
 * its handler succeeded, reclaims entries left pending by dead consumers with XAUTOCLAIM, and
 * moves invalid or repeatedly failing entries to a dead-letter stream with the reason, instead of
 * looping on them. An outage (the application's database or Redis unreachable, read-only or out
 * of resources) is not a failing entry: the consumer stops taking entries and backs off until the
 * dependency is back, using no delivery attempts; nor is a conflict (a serialization failure, a
 * deadlock, a lock or statement timeout), which is tried again at once (see outage.ts). A group
 * that disappears under it (its stream deleted, or the group destroyed, e.g. by `hsync streams
 * detach`) is created again where it starts, and reading goes on.
 */
import { EVENT_FIELD, StreamEvent } from '@historical-sync/contracts';
import type { Cluster, Redis } from 'ioredis';
import { deadLetteredInRun, entryOwner } from './dead-letters.js';
import type { EntryContext } from './entry-context.js';
import { consumerGroups, createGroup, isGroupGone } from './groups.js';
import { classifyFailure, type FailureKind, OutageBackoff } from './outage.js';

export type { EntryContext };

export interface ConsumerHooks {
  /** After each handled batch: counts and how long the handlers took. */
  onBatch?(stats: { stream: string; handled: number; failed: number; durationMs: number }): void;
  onDeadLetter?(entry: { stream: string; id: string; reason: string; runId: string }): void;
  /** A handler failed on its own (counting a delivery), or a Redis call failed unexpectedly. */
  onError?(error: unknown): void;
  /**
   * A handler met a conflict (`retry`: a serialization failure, a deadlock, a lock or statement
   * timeout) and its entry is tried again at once; `attempt` counts from 1. No delivery is used.
   */
  onRetry?(entry: { stream: string; id: string; error: unknown; attempt: number }): void;
  /** Once when an outage starts (the first infrastructure failure), not once per entry. */
  onOutage?(error: unknown): void;
  /** Once when it ends, with how long it lasted. */
  onRecovered?(outage: { durationMs: number; error: unknown }): void;
  /**
   * Once each time the group was found gone from a stream (`error`: the NOGROUP or UNBLOCKED
   * reply) and created again at `startId`. Entries it had delivered but not acknowledged, and any
   * still in the stream from `startId` on, are delivered again (handlers are idempotent).
   */
  onGroupRecreated?(event: {
    stream: string;
    group: string;
    startId: string;
    error: unknown;
  }): void;
}

export interface ConsumerOptions {
  /**
   * A connection (or Cluster client) for this consumer; duplicated for the blocking reads. On a
   * Cluster, one XREADGROUP reads streams of one slot only: give the streams a shared hash tag
   * (e.g. STREAM_PREFIX `{crm}:`).
   */
  redis: Redis | Cluster;
  streams: string[];
  group: string;
  /** This consumer's name in the group; unique per process. */
  consumer: string;
  handler: (event: StreamEvent, context: EntryContext) => Promise<void>;
  /** Where a new group starts: '0' reads each stream's history (default), '$' only new entries. */
  startId?: string;
  /** Entries read per stream per call. */
  batchSize?: number;
  blockMs?: number;
  /** Entries handled at once within a batch. */
  concurrency?: number;
  /** An entry pending this long (its consumer died or failed it) is claimed again. */
  claimIdleMs?: number;
  claimIntervalMs?: number;
  /** After this many deliveries, a failing entry goes to the dead-letter stream. */
  maxDeliveries?: number;
  /** Defaults to `<group>:dead-letter`. */
  deadLetterStream?: string;
  /**
   * What a failure means: `outage` (a dependency is away: wait on the shared backoff, retry in
   * place), `retry` (a conflict: try the entry again at once, up to `conflictRetries` times, then
   * as an outage) or `entry` (the entry fails: a delivery is used). Neither of the first two uses
   * a delivery. Defaults to `classifyFailure`: the table in outage.ts of node, Postgres (SQLSTATE)
   * and Redis failures, and `InfrastructureError` thrown by the handler as an outage.
   */
  classifyFailure?: (error: unknown) => FailureKind;
  /**
   * Immediate tries of an entry after a conflict; past them, a conflict that persists (a lock
   * held for long, a server too busy for any statement to finish) is waited out as an outage.
   */
  conflictRetries?: number;
  /** First wait after an infrastructure failure; doubles while it lasts, up to the max. */
  outageInitialDelayMs?: number;
  outageMaxDelayMs?: number;
  hooks?: ConsumerHooks;
}

type RawEntry = [id: string, fields: string[]];

export class StreamConsumer {
  private readonly reader: Redis | Cluster;
  private readonly options: Required<Omit<ConsumerOptions, 'hooks'>> & { hooks: ConsumerHooks };
  private running: Promise<void> | undefined;
  private stopping = false;
  private lastClaim = 0;
  private readonly failures = new Map<string, string>();
  private readonly outage: OutageBackoff;
  /** The entries of the batch being handled, per stream: kept claimed while an outage lasts. */
  private readonly inHand = new Map<string, string[]>();
  private lastKeep = 0;

  constructor(options: ConsumerOptions) {
    this.options = {
      startId: '0',
      batchSize: 100,
      blockMs: 1_000,
      concurrency: 1,
      claimIdleMs: 30_000,
      claimIntervalMs: 5_000,
      maxDeliveries: 5,
      deadLetterStream: `${options.group}:dead-letter`,
      classifyFailure,
      conflictRetries: 5,
      outageInitialDelayMs: 200,
      outageMaxDelayMs: 30_000,
      hooks: {},
      ...options,
    };
    this.reader = (options.redis as Redis).duplicate();
    this.outage = new OutageBackoff({
      initialDelayMs: this.options.outageInitialDelayMs,
      // Between two tries the entries in hand are claimed afresh (see keepInHand), so the wait
      // stays under the idle time after which another consumer would claim them.
      maxDelayMs: Math.min(this.options.outageMaxDelayMs, this.options.claimIdleMs / 2),
      onStart: (error) => this.options.hooks.onOutage?.(error),
      onEnd: (outage) => this.options.hooks.onRecovered?.(outage),
    });
  }

  /** Creates the group on every stream (a no-op where it exists), then starts reading. */
  async start(): Promise<void> {
    for (const stream of this.options.streams) await this.createGroup(stream);
    this.running = this.loop();
  }

  private createGroup(stream: string): Promise<boolean> {
    return createGroup(this.options.redis, stream, this.options.group, this.options.startId);
  }

  /**
   * The group is gone from a stream (deleted or trimmed away with its stream, or destroyed by an
   * operator): without it every read fails, so it is created again as at start. Each stream is
   * tried, since one reply names only the first stream that lacks the group; where it exists,
   * the create answers BUSYGROUP and nothing is reported.
   */
  private async recreateGroups(error: unknown): Promise<void> {
    const { group, startId, hooks } = this.options;
    for (const stream of this.options.streams) {
      if (await this.createGroup(stream))
        hooks.onGroupRecreated?.({ stream, group, startId, error });
    }
  }

  /** Finishes the batch in hand, acknowledges it, and stops; safe to call twice. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.outage.release();
    await this.running;
    this.reader.disconnect();
  }

  /**
   * Entries not yet delivered to the group (`lag`) and entries delivered but not acknowledged
   * (`pending`), per stream. `lag` is null when unknown: Redis cannot tell after entries were
   * deleted ahead of the group, and a stream without the group (gone, not yet recreated) has no
   * count at all. Unknown is not 0: it may hide a backlog.
   */
  async lag(): Promise<{ stream: string; lag: number | null; pending: number }[]> {
    const result = [];
    for (const stream of this.options.streams) {
      const group = (await consumerGroups(this.options.redis, stream)).find(
        (g) => g.name === this.options.group,
      );
      result.push({ stream, lag: group ? group.lag : null, pending: group?.pending ?? 0 });
    }
    return result;
  }

  private async loop(): Promise<void> {
    const { streams, group, consumer, batchSize, blockMs } = this.options;
    while (!this.stopping) {
      try {
        if (Date.now() - this.lastClaim >= this.options.claimIntervalMs) {
          this.lastClaim = Date.now();
          await this.reclaim();
        }
        const reply = (await this.reader.xreadgroup(
          'GROUP',
          group,
          consumer,
          'COUNT',
          batchSize,
          'BLOCK',
          blockMs,
          'STREAMS',
          ...streams,
          ...streams.map(() => '>'),
        )) as [string, RawEntry[]][] | null;
        this.outage.succeeded();
        for (const [stream, entries] of reply ?? []) {
          await this.handleBatch(
            stream,
            entries.map((entry) => ({ entry, deliveries: 1 })),
          );
        }
      } catch (error) {
        if (isGroupGone(error) && !this.stopping) {
          await this.recreateGroups(error).catch((failure) => this.readFailed(failure));
        } else {
          await this.readFailed(error);
        }
      }
    }
  }

  private async readFailed(error: unknown): Promise<void> {
    if (this.options.classifyFailure(error) !== 'entry') {
      // Redis unreachable or refusing: one report for the outage, then a bounded backoff.
      if (!this.stopping) await this.outage.failed(error);
    } else {
      this.options.hooks.onError?.(error);
      if (!this.stopping) await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }

  /** Claims entries idle past `claimIdleMs` (their consumer died or failed them) and handles them. */
  private async reclaim(): Promise<void> {
    const { redis, group, consumer, claimIdleMs, batchSize } = this.options;
    for (const stream of this.options.streams) {
      let cursor = '0-0';
      do {
        const [next, claimed] = (await redis.xautoclaim(
          stream,
          group,
          consumer,
          claimIdleMs,
          cursor,
          'COUNT',
          batchSize,
        )) as [string, RawEntry[], string[]];
        cursor = next;
        if (claimed.length === 0) continue;
        const deliveries = await this.deliveryCounts(stream, claimed);
        await this.handleBatch(
          stream,
          claimed.map((entry) => ({ entry, deliveries: deliveries.get(entry[0]) ?? 1 })),
        );
      } while (cursor !== '0-0' && !this.stopping);
    }
  }

  /**
   * Each claimed entry's delivery count, asked per id (`XPENDING key group id id 1`, pipelined in
   * one round trip). Not one range from the first claimed id to the last with COUNT n: that
   * returns the first n pending entries in the range, and this consumer's own entries that were
   * not claimed (pending but not idle long enough) sit between claimed ones, so it would read
   * those instead and leave claimed entries at 1 delivery: a failing entry would never reach
   * `maxDeliveries`.
   */
  private async deliveryCounts(stream: string, entries: RawEntry[]): Promise<Map<string, number>> {
    const pipeline = this.options.redis.pipeline();
    for (const [id] of entries) pipeline.xpending(stream, this.options.group, id, id, 1);
    const replies = (await pipeline.exec()) ?? [];
    const counts = new Map<string, number>();
    for (const [error, pending] of replies) {
      if (error) throw error;
      // Empty when the entry left the pending list since (acknowledged): a first delivery then.
      const [row] = pending as [string, string, number, number][];
      if (row) counts.set(row[0], Number(row[3]));
    }
    return counts;
  }

  private async handleBatch(
    stream: string,
    batch: { entry: RawEntry; deliveries: number }[],
  ): Promise<void> {
    const started = performance.now();
    this.inHand.set(
      stream,
      batch.map(({ entry }) => entry[0]),
    );
    try {
      await this.handleEntries(stream, batch, started);
    } finally {
      this.inHand.delete(stream);
    }
  }

  private async handleEntries(
    stream: string,
    batch: { entry: RawEntry; deliveries: number }[],
    started: number,
  ): Promise<void> {
    const acks: string[] = [];
    let failed = 0;
    const handle = async ({ entry, deliveries }: { entry: RawEntry; deliveries: number }) => {
      const outcome = await this.handleEntry(stream, entry, deliveries);
      if (outcome === 'failed') failed += 1;
      else if (outcome === 'handled') acks.push(entry[0]);
    };
    // Entries run `concurrency` at a time, but a run marker waits for every entry before it,
    // so "sync.completed" is handled only after the run's events ahead of it on the stream.
    let segment: typeof batch = [];
    let acked = 0;
    const flushAcks = async () => {
      const ids = acks.slice(acked);
      acked = acks.length;
      if (ids.length > 0)
        await this.throughOutage(() => this.options.redis.xack(stream, this.options.group, ...ids));
    };
    for (const item of batch) {
      if (isMarker(item.entry)) {
        await this.inParallel(segment, handle);
        segment = [];
        // Acknowledge what came before, so the marker's own pending check sees it done.
        await flushAcks();
        await handle(item);
      } else {
        segment.push(item);
      }
    }
    await this.inParallel(segment, handle);
    await flushAcks();
    this.options.hooks.onBatch?.({
      stream,
      handled: acks.length,
      failed,
      durationMs: performance.now() - started,
    });
  }

  private async inParallel<T>(items: T[], fn: (item: T) => Promise<void>): Promise<void> {
    let next = 0;
    const work = async () => {
      for (let i = next++; i < items.length; i = next++) await fn(items[i] as T);
    };
    await Promise.all(
      Array.from({ length: Math.min(this.options.concurrency, items.length) }, work),
    );
  }

  private async handleEntry(
    stream: string,
    [id, fields]: RawEntry,
    deliveries: number,
  ): Promise<'handled' | 'dead' | 'failed'> {
    const raw = fields[fields.indexOf(EVENT_FIELD) + 1];
    let event: StreamEvent;
    try {
      const parsed = StreamEvent.safeParse(JSON.parse(raw ?? 'null'));
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        await this.deadLetter(
          stream,
          id,
          fields,
          deliveries,
          `invalid event: ${issue?.path.join('.') || 'event'}: ${issue?.message}`,
        );
        return 'dead';
      }
      event = parsed.data;
    } catch (error) {
      await this.deadLetter(
        stream,
        id,
        fields,
        deliveries,
        `invalid event: ${error instanceof Error ? error.message : String(error)}`,
      );
      return 'dead';
    }
    const context: EntryContext = { stream, id, deliveries };
    if (event.eventType === 'sync.started' || event.eventType === 'sync.completed') {
      // A marker means "everything before me is on the stream". Entries before it still pending
      // in this group (failing, waiting out an outage, or held by a consumer that died) are not
      // applied yet: the marker stays pending and is looked at again at the next reclaim, and
      // the wait costs it no delivery, so a marker is never dead-lettered for waiting.
      const earlier = await this.throughOutage(() =>
        this.options.redis.xpending(stream, this.options.group, '-', `(${id}`, 1),
      );
      if ((earlier as unknown[]).length > 0) {
        await this.giveBackDelivery(stream, id, deliveries, this.options.claimIdleMs);
        return 'failed';
      }
      if (event.eventType === 'sync.completed') {
        context.deadLettered = await this.throughOutage(() =>
          deadLetteredInRun(this.options.redis, this.options.deadLetterStream, event.runId),
        );
      }
    }
    if (deliveries > this.options.maxDeliveries) {
      const last = this.failures.get(`${stream}/${id}`) ?? 'handler failed on earlier deliveries';
      await this.deadLetter(
        stream,
        id,
        fields,
        deliveries,
        `gave up after ${deliveries - 1} deliveries: ${last}`,
      );
      return 'dead';
    }
    let conflicts = 0;
    for (;;) {
      try {
        await this.options.handler(event, context);
        this.outage.succeeded();
        this.failures.delete(`${stream}/${id}`);
        return 'handled';
      } catch (error) {
        const kind = this.options.classifyFailure(error);
        if (kind === 'retry' && conflicts < this.options.conflictRetries && !this.stopping) {
          // Lost to a concurrent transaction (or timed out behind one): the next try most
          // likely wins. A short random pause, growing, keeps two losers from meeting again.
          conflicts += 1;
          this.options.hooks.onRetry?.({ stream, id, error, attempt: conflicts });
          await new Promise((resolve) => setTimeout(resolve, Math.random() * 20 * conflicts));
          // Tries behind a statement timeout can add up past claimIdleMs: keep the entry ours.
          await this.keepInHand();
          continue;
        }
        if (kind !== 'entry') {
          // Not the entry's fault: wait for the dependency and try the same entry again, here,
          // so the outage uses no delivery and nothing else is taken meanwhile.
          if (!this.stopping) await this.outage.failed(error);
          if (!this.stopping) {
            await this.keepInHand();
            continue;
          }
          // Stopping mid-outage: left pending for the next consumer, with this delivery given back.
          await this.giveBackDelivery(stream, id, deliveries, 0).catch(() => {});
          return 'failed';
        }
        // Left pending: claimed again after claimIdleMs, by this consumer or another.
        this.failures.set(
          `${stream}/${id}`,
          error instanceof Error ? error.message : String(error),
        );
        this.options.hooks.onError?.(error);
        return 'failed';
      }
    }
  }

  /**
   * Sets an entry's delivery counter back to what it was before this delivery (XCLAIM RETRYCOUNT
   * with JUSTID, which does not count itself), and its idle time to `idleMs`, so the next claim
   * finds it as soon as wanted and the delivery it is given is not counted against it.
   */
  private async giveBackDelivery(stream: string, id: string, deliveries: number, idleMs: number) {
    const { group, consumer } = this.options;
    // Through `call`: ioredis types XCLAIM's options only all together.
    await (this.options.redis as Redis).call(
      'XCLAIM',
      stream,
      group,
      consumer,
      0,
      id,
      'IDLE',
      idleMs,
      'RETRYCOUNT',
      Math.max(0, deliveries - 1),
      'JUSTID',
    );
  }

  /**
   * Claims the entries in hand again (JUSTID: no delivery counted), resetting their idle time,
   * so that during a long outage no other consumer claims them and counts a delivery. Once per
   * second at most, whatever the number of handlers waiting.
   */
  private async keepInHand() {
    if (Date.now() - this.lastKeep < Math.min(1_000, this.options.claimIdleMs / 4)) return;
    this.lastKeep = Date.now();
    const { redis, group, consumer } = this.options;
    for (const [stream, ids] of this.inHand) {
      if (ids.length === 0) continue;
      // Redis may be the dependency that is down: then no one else can claim either.
      await (redis as Redis)
        .call('XCLAIM', stream, group, consumer, 0, ...ids, 'JUSTID')
        .catch(() => {});
    }
  }

  /** Runs a Redis call, waiting out an outage (not while stopping) instead of failing the batch. */
  private async throughOutage<T>(call: () => Promise<T>): Promise<T> {
    for (;;) {
      try {
        const result = await call();
        this.outage.succeeded();
        return result;
      } catch (error) {
        if (this.stopping || this.options.classifyFailure(error) === 'entry') throw error;
        await this.outage.failed(error);
      }
    }
  }

  /**
   * Moves an entry to the dead-letter stream, then acknowledges it. In that order: a crash in
   * between leaves the entry pending, and it may be dead-lettered twice, never lost.
   */
  private async deadLetter(
    stream: string,
    id: string,
    fields: string[],
    deliveries: number,
    reason: string,
  ) {
    const { runId, tenantId } = entryOwner(fields[fields.indexOf(EVENT_FIELD) + 1]);
    await this.throughOutage(() =>
      this.options.redis.xadd(
        this.options.deadLetterStream,
        '*',
        'stream',
        stream,
        'id',
        id,
        'group',
        this.options.group,
        'reason',
        reason,
        'deliveries',
        String(deliveries),
        'runId',
        runId,
        'tenantId',
        tenantId,
        'fields',
        JSON.stringify(fields),
        'failedAt',
        new Date().toISOString(),
      ),
    );
    await this.throughOutage(() => this.options.redis.xack(stream, this.options.group, id));
    this.failures.delete(`${stream}/${id}`);
    this.options.hooks.onDeadLetter?.({ stream, id, reason, runId });
  }
}

function isMarker([, fields]: RawEntry): boolean {
  return (fields[fields.indexOf(EVENT_FIELD) + 1] ?? '').includes('"eventType":"sync.');
}
