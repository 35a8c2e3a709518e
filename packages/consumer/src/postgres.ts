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
): Promise<boolean> {
  const columns = Object.keys(row);
  const updates = columns.filter((c) => !key.includes(c));
  const result = await sql<{ applied: number }>`
    INSERT INTO ${sql.table(table)} (${sql.join(columns.map((c) => sql.id(c)))})
    VALUES (${sql.join(columns.map((c) => row[c]))})
    ON CONFLICT (${sql.join(key.map((c) => sql.id(c)))}) DO UPDATE
      SET ${sql.join(updates.map((c) => sql`${sql.id(c)} = EXCLUDED.${sql.id(c)}`))}
      WHERE ${sql.table(table)}.version < EXCLUDED.version
    RETURNING 1 AS applied
  `.execute(db);
  return result.rows.length > 0;
}

/**
 * Records `eventId` as processed; false when it already was (a re-delivery). The table needs one
 * text primary-key column `event_id`.
 */
export async function firstDelivery(db: AnyDb, table: string, eventId: string): Promise<boolean> {
  const result = await sql`
    INSERT INTO ${sql.table(table)} (event_id) VALUES (${eventId})
    ON CONFLICT DO NOTHING
    RETURNING 1
  `.execute(db);
  return result.rows.length > 0;
}
