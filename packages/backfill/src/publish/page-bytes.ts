/**
 * A page as bytes, from Postgres to Redis: the page query runs as `COPY (…) TO STDOUT (FORMAT
 * binary)`, so each row's id arrives as its 16 bytes and its event as the UTF-8 bytes Postgres
 * rendered, and the worker copies those bytes into the page's XADD commands in Redis's protocol
 * (one Buffer per page) without decoding a row into a JavaScript string or encoding it again.
 * That decoding and encoding (and the garbage of a thousand strings a page) was most of the
 * worker's CPU per event (docs/PERFORMANCE.md).
 *
 * COPY takes no bind parameters, so the query's values are written into its text as escaped
 * literals (`literal`): they are the run's own ids, cursor, application code and date, validated
 * where they entered, and every one is quoted whatever it holds.
 */
import { type Db, poolOf } from '@historical-sync/db';
import type { CompiledQuery } from 'kysely';
import copyTo from 'pg-copy-streams';

/** The binary COPY header: signature (11 bytes), flags (4), header extension length (4). */
const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');

/** A value as a SQL literal: an escape string literal (backslashes and quotes escaped). */
export function literal(value: unknown): string {
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  if (typeof value === 'string' && !value.includes('\0')) {
    return `E'${value.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;
  }
  throw new Error(`cannot write ${typeof value} as a literal of a COPY query`);
}

/** The compiled query with its `$n` parameters written in as literals. */
function inlineParameters(query: CompiledQuery): string {
  const placeholders = query.sql.match(/\$\d+/g) ?? [];
  if (
    placeholders.length !== query.parameters.length ||
    query.sql.split('$').length - 1 !== placeholders.length
  ) {
    throw new Error('the page query has a $ that is not one of its parameters');
  }
  return query.sql.replace(/\$(\d+)/g, (_, n: string) => literal(query.parameters[Number(n) - 1]));
}

/** Runs `COPY (<query>) TO STDOUT (FORMAT binary)` and resolves with everything it sent. */
export async function copyBinary(db: Db, query: CompiledQuery): Promise<Buffer> {
  const client = await poolOf(db).connect();
  let failed: Error | undefined;
  try {
    const stream = client.query(
      copyTo.to(`COPY (${inlineParameters(query)}) TO STDOUT (FORMAT binary)`),
    );
    // Listened to rather than iterated with `for await`: the async iterator costs a promise and
    // its ticks per chunk, a few hundred chunks a page.
    const chunks: Buffer[] = [];
    let size = 0;
    await new Promise<void>((resolve, reject) => {
      stream.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        size += chunk.length;
      });
      let ended = false;
      stream.once('end', () => {
        ended = true;
        resolve();
      });
      stream.once('error', reject);
      // Closed without its end or an error: cut off, not complete.
      stream.once('close', () => {
        if (!ended) reject(new Error('the COPY of a page stopped before its end'));
      });
    });
    return chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size);
  } catch (error) {
    failed = error as Error;
    throw error;
  } finally {
    // A connection whose COPY broke off is not reused: its protocol state is unknown.
    client.release(failed);
  }
}

/** One row of a binary COPY: its fields as slices of the data (null for NULL). */
export type CopyRow = (Buffer | null)[];

/** Calls `each` with the rows of a binary COPY's output, in order. */
export function forEachRow(data: Buffer, each: (row: CopyRow) => void): void {
  if (data.length === 0) return;
  if (!data.subarray(0, SIGNATURE.length).equals(SIGNATURE)) {
    throw new Error('COPY sent something other than its binary format');
  }
  let at = SIGNATURE.length + 4;
  at += 4 + data.readUInt32BE(at);
  for (;;) {
    const fields = data.readInt16BE(at);
    at += 2;
    if (fields === -1) return;
    const row: CopyRow = new Array(fields);
    for (let i = 0; i < fields; i += 1) {
      const length = data.readInt32BE(at);
      at += 4;
      if (length < 0) {
        row[i] = null;
      } else {
        row[i] = data.subarray(at, at + length);
        at += length;
      }
    }
    each(row);
  }
}

/** A uuid's 16 bytes as its text. */
export function uuidText(bytes: Buffer): string {
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/**
 * Writes `XADD <stream> * <field> <event>` for each event into one Buffer: `prefix` (resp.ts's
 * xaddPrefix, ending with `$`), the event's length in bytes, CRLF, the event's bytes, CRLF.
 */
export function xaddBytes(prefix: Buffer, events: readonly Buffer[]): Buffer {
  let size = 0;
  for (const event of events) size += prefix.length + digits(event.length) + event.length + 4;
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  // Typed-array copies and the length's digits written as bytes: per event, no string is made
  // and no native call is crossed (Buffer.copy and Buffer.write each cost one).
  for (const event of events) {
    out.set(prefix, at);
    at += prefix.length;
    const length = event.length;
    const end = at + digits(length);
    for (let rest = length, i = end - 1; i >= at; i -= 1, rest = Math.floor(rest / 10)) {
      out[i] = 0x30 + (rest % 10);
    }
    at = end;
    out[at] = 0x0d;
    out[at + 1] = 0x0a;
    out.set(event, at + 2);
    at += 2 + length;
    out[at] = 0x0d;
    out[at + 1] = 0x0a;
    at += 2;
  }
  return out;
}

function digits(n: number): number {
  let count = 1;
  for (let rest = n; rest >= 10; rest = Math.floor(rest / 10)) count += 1;
  return count;
}
