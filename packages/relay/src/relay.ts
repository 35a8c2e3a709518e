/**
 * The outbox relay (docs/decisions/0006-transactional-outbox.md). Each batch, in one transaction:
 * lock unpublished rows with FOR UPDATE SKIP LOCKED (several relays never take the same row),
 * publish each row to the streams of the applications enabled for its tenant now, then mark the
 * rows published. Delivery is at least once: a crash between XADD and commit re-publishes the same
 * events, same eventIds.
 *
 * Per-entity order: a row is held back while an earlier unpublished row of the same entity is
 * held by another relay, so the entity's events reach each stream in version order.
 *
 * A disable waits for the batch's share lock on the enablement rows, so it answers after the
 * batch's entries. That holds only while the batch's session lives, and Postgres ends a session
 * idle in its transaction (freeing the lock) while XADDs already sent may wait in a stalled Redis:
 * so the XADDs run under the batch's lease (lease.ts), refused by Redis once the session may be
 * gone.
 */
import {
  audienceOf,
  EVENT_FIELD,
  registeredEventSchema,
  type SyncEvent,
  SyncEvent as SyncEventSchema,
  streamName,
} from '@historical-sync/contracts';
import { type Db, type OutboxRow, outboxBacklog } from '@historical-sync/db';
import type { Cluster, Redis } from 'ioredis';
import { sql } from 'kysely';
import type { Logger } from 'pino';
import { BatchLease } from './lease';
import { OutboxListener } from './listener';

export const OUTBOX_CHANNEL = 'outbox_new';

export interface RelayOptions {
  db: Db;
  /** For LISTEN/NOTIFY; omit to rely on polling alone. */
  databaseUrl?: string;
  /** Fails fast while Redis is down (no offline queue), so a batch rolls back and is retried. */
  redis: Redis | Cluster;
  streamPrefix: string;
  logger: Logger;
  batchSize?: number;
  /** Poll interval when no notification arrives; also the cap on a missed notification. */
  pollIntervalMs?: number;
  /** Published rows older than this are deleted. */
  retentionMs?: number;
  pruneIntervalMs?: number;
  /** How often the backlog is logged while it is not empty. */
  backlogLogIntervalMs?: number;
  /** Told about every published batch, for the process's metrics. */
  onPublished?: (events: SyncEvent[]) => void;
  /**
   * The batch transaction's `idle_in_transaction_session_timeout` (lease.ts): how long its session
   * may wait on Redis before Postgres ends it. Redis refuses the batch's XADDs before then, so a
   * Redis that stalls longer only delays the batch.
   */
  leaseMs?: number;
}

export interface BatchResult {
  /** Outbox rows marked published (including rows no enabled application wanted). */
  rows: number;
  /** Stream entries added. */
  entries: number;
  /** Rows left for a later batch to keep an entity's order. */
  heldBack: number;
  /** Rows set aside because their payload is not a valid event. */
  failed: number;
}

const MAX_BACKOFF_MS = 5_000;

export class OutboxRelay {
  private readonly batchSize: number;
  private readonly pollIntervalMs: number;
  private readonly retentionMs: number;
  private readonly pruneIntervalMs: number;
  private readonly backlogLogIntervalMs: number;
  private readonly leaseMs: number;
  private listener: OutboxListener | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private wake: (() => void) | undefined;
  private pendingWake = false;

  constructor(private readonly options: RelayOptions) {
    this.batchSize = options.batchSize ?? 500;
    this.pollIntervalMs = options.pollIntervalMs ?? 1_000;
    this.retentionMs = options.retentionMs ?? 7 * 24 * 3600 * 1000;
    this.pruneIntervalMs = options.pruneIntervalMs ?? 60_000;
    this.backlogLogIntervalMs = options.backlogLogIntervalMs ?? 30_000;
    this.leaseMs = options.leaseMs ?? 15_000;
  }

  /** Starts the relay loop (and LISTEN when a database URL was given). */
  start(): void {
    if (this.running) return;
    if (this.options.databaseUrl) {
      this.listener = new OutboxListener(
        this.options.databaseUrl,
        OUTBOX_CHANNEL,
        () => this.notify(),
        this.options.logger,
      );
      void this.listener.start();
    }
    this.running = this.loop();
  }

  /** Finishes the current batch, then stops; safe to call twice. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.notify();
    await this.listener?.close();
    await this.running;
  }

  private notify() {
    this.pendingWake = true;
    this.wake?.();
  }

  private async sleep(ms: number): Promise<void> {
    if (this.pendingWake || this.stopped) {
      this.pendingWake = false;
      return;
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    this.wake = undefined;
    this.pendingWake = false;
  }

  private async loop(): Promise<void> {
    const { logger } = this.options;
    let backoffMs = 0;
    let outageSince = 0;
    let failedBatches = 0;
    let lastPrune = 0;
    let lastBacklogLog = 0;
    while (!this.stopped) {
      try {
        const result = await this.relayBatch();
        if (outageSince) {
          logger.info(
            { failedBatches, outageMs: Date.now() - outageSince },
            'relay publishing again',
          );
        }
        backoffMs = 0;
        outageSince = 0;
        failedBatches = 0;
        const now = Date.now();
        if (now - lastPrune >= this.pruneIntervalMs) {
          lastPrune = now;
          const pruned = await this.prune();
          if (pruned) logger.info({ pruned }, 'pruned published outbox rows');
        }
        if (now - lastBacklogLog >= this.backlogLogIntervalMs) {
          const backlog = await outboxBacklog(this.options.db);
          if (backlog.unpublished > 0) {
            lastBacklogLog = now;
            logger.info({ outboxBacklog: backlog }, 'outbox backlog');
          }
        }
        // A full batch (or rows held back) means more is waiting: go again at once.
        if (result.rows + result.failed === this.batchSize || result.heldBack > 0) {
          if (result.rows === 0) await this.sleep(20);
          continue;
        }
        await this.sleep(this.pollIntervalMs);
      } catch (error) {
        backoffMs = Math.min(MAX_BACKOFF_MS, backoffMs ? backoffMs * 2 : 100);
        failedBatches += 1;
        // One warning per outage, not one per retry: a Redis or Postgres restart would otherwise
        // print a line every backoff step. The recovery line above closes it.
        if (!outageSince) {
          outageSince = Date.now();
          logger.warn(
            { err: error, retryInMs: backoffMs },
            'relay batch failed; rolled back, retrying with backoff until it succeeds',
          );
        } else {
          logger.debug({ err: error, retryInMs: backoffMs }, 'relay batch failed again');
        }
        await new Promise((resolve) => setTimeout(resolve, backoffMs));
      }
    }
  }

  /** One batch: publish what is unpublished, up to the batch size. Exposed for tests. */
  async relayBatch(): Promise<BatchResult> {
    const { db, redis, streamPrefix } = this.options;
    return db.transaction().execute(async (trx) => {
      const locked = await trx
        .selectFrom('outbox')
        .selectAll()
        .where('published_at', 'is', null)
        .where('failed_reason', 'is', null)
        .orderBy('id')
        .limit(this.batchSize)
        .forUpdate()
        .skipLocked()
        .execute();
      if (locked.length === 0) return { rows: 0, entries: 0, heldBack: 0, failed: 0 };

      const inOrder = await this.inEntityOrder(trx, locked);
      const heldBack = locked.length - inOrder.length;
      if (inOrder.length === 0) return { rows: 0, entries: 0, heldBack, failed: 0 };

      const tenants = [...new Set(inOrder.map((r) => r.tenant_id))];
      // The lease starts before the last statement ahead of the XADDs, which sets it: Postgres
      // counts the session's idle time from that statement's end. A single Redis's clock is read
      // meanwhile; Redis Cluster's, per stream, once the streams are known.
      const lease = new BatchLease(redis, this.leaseMs);
      const clock = redis.isCluster ? undefined : lease.clock(streamPrefix);
      const enabled = await trx
        .selectFrom('organization_applications as oa')
        .innerJoin('applications as a', 'a.id', 'oa.application_id')
        .select(['oa.tenant_id', 'a.code'])
        // Set on every row read: with none, nothing is published and no lease is needed.
        .select(
          sql`set_config('idle_in_transaction_session_timeout', ${String(this.leaseMs)}, true)`.as(
            'lease',
          ),
        )
        .where('oa.tenant_id', 'in', tenants)
        .where('oa.is_enabled', '=', true)
        // Held until this batch's entries are added: a disable (which locks the row to update
        // it) answers only after them, so a disabled application receives nothing more.
        .forShare('oa')
        .execute();
      const appsByTenant = new Map<string, string[]>();
      for (const { tenant_id, code } of enabled) {
        appsByTenant.set(tenant_id, [...(appsByTenant.get(tenant_id) ?? []), code]);
      }

      // One script per stream: on Redis Cluster a script stays within one slot.
      const byStream = new Map<string, string[]>();
      const published: SyncEvent[] = [];
      const rows: OutboxRow[] = [];
      const failed: Array<{ row: OutboxRow; reason: string }> = [];
      for (const row of inOrder) {
        let events: Delivery[];
        try {
          events = deliveries(row, appsByTenant.get(row.tenant_id) ?? []);
        } catch (error) {
          // One bad row must not stop every row behind it: it is set aside with its reason.
          failed.push({ row, reason: describe(error) });
          continue;
        }
        rows.push(row);
        for (const { event, json } of events) {
          const stream = streamName(
            event.eventType,
            event.metadata.targetApplication,
            streamPrefix,
          );
          const list = byStream.get(stream) ?? [];
          list.push(json);
          byStream.set(stream, list);
          published.push(event);
        }
      }
      if (byStream.size > 0) await lease.publish(byStream, EVENT_FIELD, clock);
      const entries = published.length;
      this.options.onPublished?.(published);

      if (rows.length > 0) {
        await trx
          .updateTable('outbox')
          .set({ published_at: sql`now()` })
          .where(
            'id',
            'in',
            rows.map((r) => r.id),
          )
          .execute();
      }
      for (const { row, reason } of failed) {
        await trx
          .updateTable('outbox')
          .set({ failed_reason: reason })
          .where('id', '=', row.id)
          .execute();
        this.options.logger.error(
          { outboxId: row.id, tenantId: row.tenant_id, eventType: row.event_type, reason },
          'outbox row is not a valid event: set aside (failed_reason), not published',
        );
      }
      return { rows: rows.length, entries, heldBack, failed: failed.length };
    });
  }

  /**
   * Drops from the batch every row of an entity that comes after an unpublished row of the same
   * entity outside the batch (held by another relay): publishing it now could overtake that one.
   */
  private async inEntityOrder(trx: Db, locked: OutboxRow[]): Promise<OutboxRow[]> {
    const ids = locked.map((r) => r.id);
    const earliestElsewhere = await trx
      .selectFrom('outbox')
      .select(['aggregate_id', (eb) => eb.fn.min('id').as('first')])
      .where('published_at', 'is', null)
      .where('failed_reason', 'is', null)
      .where('aggregate_id', 'in', [...new Set(locked.map((r) => r.aggregate_id))])
      .where('id', 'not in', ids)
      .groupBy('aggregate_id')
      .execute();
    if (earliestElsewhere.length === 0) return locked;
    const first = new Map(earliestElsewhere.map((r) => [r.aggregate_id, Number(r.first)]));
    // Only rows after an entity's earliest row held elsewhere wait; earlier ones go now.
    return locked.filter((r) => r.id < (first.get(r.aggregate_id) ?? Number.POSITIVE_INFINITY));
  }

  /** Deletes published rows past the retention; returns how many. */
  async prune(): Promise<number> {
    const result = await sql<{ n: number }>`
      WITH doomed AS (
        SELECT id FROM outbox
        WHERE published_at IS NOT NULL
          AND published_at < now() - ${`${this.retentionMs} milliseconds`}::interval
        LIMIT 10000
      )
      DELETE FROM outbox WHERE id IN (SELECT id FROM doomed)
    `.execute(this.options.db);
    return Number(result.numAffectedRows ?? 0);
  }
}

function describe(error: unknown): string {
  if (error instanceof Error && 'issues' in error && Array.isArray(error.issues)) {
    const issue = error.issues[0] as { path: PropertyKey[]; message: string } | undefined;
    return `not a valid event: ${issue?.path.join('.')}: ${issue?.message}`;
  }
  return error instanceof Error ? error.message : String(error);
}

/** One stream entry a row becomes: the event, and its JSON as it goes on the stream. */
export interface Delivery {
  event: SyncEvent;
  json: string;
}

/** Why a row has no event: its row version could not be rendered (see the capture migration). */
export const UNRENDERABLE =
  'no event could be rendered from this row version: a timestamp outside the years 0001-9999';

/**
 * The entries one outbox row becomes: a credit event for its own application when that is
 * enabled, an organization or membership event for every enabled application. The JSON is the
 * rendering's own text with only the application named, keys in place: byte for byte what the
 * backfill renders for the same row version and application, bar its run. The event is checked
 * against the contract even when no application receives it, so a change the contract cannot
 * express is set aside (thrown here) rather than passed on.
 */
export function deliveries(row: OutboxRow, enabledApps: string[]): Delivery[] {
  // Rows written before capture hold the event as jsonb in `payload`.
  const text = row.event ?? (row.payload == null ? null : JSON.stringify(row.payload));
  if (text === null) throw new Error(UNRENDERABLE);
  const parsed: unknown = JSON.parse(text);
  // Who receives it (the resource registry): the application the row names, or every one enabled.
  const ownOnly = audienceOf(row.aggregate) === 'own-application';
  const live = asLiveEvent(parsed);
  const targets = ownOnly
    ? enabledApps.filter((app) => app === live?.metadata.targetApplication)
    : enabledApps;
  // Validated as delivered (a placeholder application when none receives it).
  if (live && !ownOnly) live.metadata.targetApplication = targets[0] ?? 'pending';
  // A registered resource's events have their own contract (contracts, resources.ts).
  const checked = (registeredEventSchema(row.event_type) ?? SyncEventSchema).safeParse(parsed);
  if (!checked.success || !live) throw checked.error ?? new Error('not an event');
  return targets.map((app) => {
    if (!ownOnly) live.metadata.targetApplication = app;
    return {
      event: { ...live, metadata: { ...live.metadata } } as SyncEvent,
      json: JSON.stringify(live),
    };
  });
}

type LiveEvent = { runId: null; metadata: { targetApplication: unknown; isHistoricalSync: false } };

/** Marks a parsed event live in place (no run), keeping its keys where they are. */
function asLiveEvent(value: unknown): LiveEvent | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const event = value as Record<string, unknown>;
  if (typeof event.metadata !== 'object' || event.metadata === null) return undefined;
  event.runId = null;
  (event.metadata as Record<string, unknown>).isHistoricalSync = false;
  return event as unknown as LiveEvent;
}
