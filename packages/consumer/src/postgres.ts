/**
 * Postgres helpers for the apply rule: a version-gated upsert (also used for tombstones) and
 * dedupe by eventId. Run both in the transaction that changes the application's own state.
 */
import { type Kysely, sql } from 'kysely';

// biome-ignore lint/suspicious/noExplicitAny: helpers work on any application schema
type AnyDb = Kysely<any>;

/**
 * Inserts `row`, or updates the existing row with the same `key` columns only when
 * `row.version` is newer than the stored one. Columns not in `row` keep their value (or their
 * default on insert), so a removal can be written as a tombstone with just key, version and a
 * removed flag, even before the row's creation arrives. Returns true when the row changed.
 */
export async function upsertIfNewer(
  db: AnyDb,
  table: string,
  key: string[],
  row: Record<string, unknown> & { version: number },
  /**
   * `orSameVersion`: apply at the version held too. For a verification's repair
   * (`event.metadata.isRepair`): the source's state replaces a copy damaged at the same version.
   */
  options: { orSameVersion?: boolean } = {},
): Promise<boolean> {
  const columns = Object.keys(row);
  const updates = columns.filter((c) => !key.includes(c));
  const result = await sql<{ applied: number }>`
    INSERT INTO ${sql.table(table)} (${sql.join(columns.map((c) => sql.id(c)))})
    VALUES (${sql.join(columns.map((c) => row[c]))})
    ON CONFLICT (${sql.join(key.map((c) => sql.id(c)))}) DO UPDATE
      SET ${sql.join(updates.map((c) => sql`${sql.id(c)} = EXCLUDED.${sql.id(c)}`))}
      WHERE ${sql.table(table)}.version ${options.orSameVersion ? sql`<=` : sql`<`} EXCLUDED.version
    RETURNING 1 AS applied
  `.execute(db);
  return result.rows.length > 0;
}

/**
 * Records `eventId` as processed; false when it already was (a re-delivery). The table needs a
 * text primary-key column `event_id` and, to be pruned, `processed_at timestamptz NOT NULL
 * DEFAULT now()` with an index.
 */
export async function firstDelivery(db: AnyDb, table: string, eventId: string): Promise<boolean> {
  const result = await sql`
    INSERT INTO ${sql.table(table)} (event_id) VALUES (${eventId})
    ON CONFLICT DO NOTHING
    RETURNING 1
  `.execute(db);
  return result.rows.length > 0;
}

/**
 * Deletes dedupe ids recorded more than `retentionMs` ago, in chunks (short locks), and returns
 * how many. This is safe because the apply is version-gated: an event re-delivered after its id
 * is gone finds its version already held and changes nothing. The ids only tell a re-delivery
 * apart while it is likely (redelivery after a crash or a claim happens within minutes).
 */
export async function pruneProcessedEvents(
  db: AnyDb,
  table: string,
  retentionMs: number,
  chunkSize = 10_000,
): Promise<number> {
  let total = 0;
  for (;;) {
    const result = await sql`
      DELETE FROM ${sql.table(table)} WHERE event_id IN (
        SELECT event_id FROM ${sql.table(table)}
        WHERE processed_at < now() - make_interval(secs => ${retentionMs / 1000})
        LIMIT ${chunkSize}
      )
    `.execute(db);
    const deleted = Number(result.numAffectedRows ?? 0);
    total += deleted;
    if (deleted < chunkSize) return total;
  }
}

export interface DedupePruning {
  /** Stops the timer and waits for a prune in progress; safe to call twice. */
  stop(): Promise<void>;
}

/**
 * Prunes the dedupe table every `intervalMs`, keeping the ids of the last `retentionMs`: the
 * table holds at most the ids recorded in the last `retentionMs + intervalMs` (plus one prune's
 * duration). Failures (the database down) are reported and tried again at the next tick.
 */
export function startDedupePruning(options: {
  db: AnyDb;
  table: string;
  retentionMs: number;
  intervalMs: number;
  onPruned?: (deleted: number) => void;
  onError?: (error: unknown) => void;
}): DedupePruning {
  let running: Promise<void> = Promise.resolve();
  let stopped = false;
  let busy = false;
  const tick = () => {
    busy = true;
    running = pruneProcessedEvents(options.db, options.table, options.retentionMs)
      .then(
        (deleted) => {
          if (deleted > 0) options.onPruned?.(deleted);
        },
        (error: unknown) => options.onError?.(error),
      )
      .finally(() => {
        busy = false;
      });
  };
  const timer = setInterval(() => {
    if (!stopped && !busy) tick();
  }, options.intervalMs);
  timer.unref();
  return {
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
