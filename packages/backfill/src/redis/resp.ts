/**
 * Redis's wire protocol (RESP2), as much of it as the page transaction needs: commands written as
 * text, and a reader of replies that can skip bulk strings without decoding them (a page's EXEC
 * answers with one stream id per event, which the worker does not need).
 */

/** A reply; bulk strings read with `keep: false` come back as undefined. */
export type Reply = string | number | null | undefined | ReplyError | Reply[];

export class ReplyError extends Error {
  override name = 'ReplyError';
}

/** One command in RESP: `*<n>\r\n` then `$<bytes>\r\n<arg>\r\n` per argument. */
export function command(...args: (string | number)[]): string {
  let text = `*${args.length}\r\n`;
  for (const arg of args) {
    const value = String(arg);
    text += `$${Buffer.byteLength(value)}\r\n${value}\r\n`;
  }
  return text;
}

/**
 * What comes before an event's `<bytes>\r\n<event>\r\n` in `XADD <stream> * <field> <event>`:
 * the same for every event of a stream, so it is built once per page and each event's length,
 * CRLF, bytes and CRLF are copied after it (page-bytes.ts xaddBytes).
 */
export function xaddPrefix(stream: string, field: string): Buffer {
  return Buffer.from(`${command('XADD', stream, '*', field).replace(/^\*4/, '*5')}$`);
}

const CR = 13;
/** What `parse` answers when the reply has not all arrived; nothing is consumed then. */
const INCOMPLETE = Symbol('incomplete');

/**
 * Reads replies from a byte stream; `read` returns NEED_MORE until a whole reply has arrived.
 *
 * A page's exchange is two thousand replies (a QUEUED per event, then EXEC's stream id per
 * event), so the reader allocates nothing per reply it skips: lengths are read from the bytes, not
 * from a decoded line, and the position is a field rather than an object per reply.
 */
export class ReplyReader {
  static readonly NEED_MORE = Symbol('need more');
  private buffer: Buffer = Buffer.alloc(0);
  private offset = 0;
  /** Where the reply being parsed has got to. */
  private at = 0;

  push(chunk: Buffer): void {
    const rest = this.buffer.length - this.offset;
    this.buffer = rest > 0 ? Buffer.concat([this.buffer.subarray(this.offset), chunk]) : chunk;
    this.offset = 0;
  }

  /** The next whole reply, consumed; NEED_MORE (nothing consumed) when it has not all arrived. */
  read(keep: boolean): Reply | typeof ReplyReader.NEED_MORE {
    this.at = this.offset;
    const value = this.parse(keep);
    if (value === INCOMPLETE) return ReplyReader.NEED_MORE;
    this.offset = this.at;
    return value;
  }

  /**
   * The integer written from `from` up to the CR at `end` (a length, a count or an integer
   * reply), read from its ASCII digits.
   */
  private integer(from: number, end: number): number {
    const { buffer } = this;
    let i = from;
    const negative = buffer[i] === 0x2d;
    if (negative) i += 1;
    let n = 0;
    for (; i < end; i += 1) n = n * 10 + ((buffer[i] as number) - 0x30);
    return negative ? -n : n;
  }

  private parse(keep: boolean): Reply | typeof INCOMPLETE {
    const { buffer } = this;
    const start = this.at;
    // Lines are a few bytes long: scanned here rather than by a native indexOf per reply.
    let lineEnd = start + 1;
    while (lineEnd < buffer.length && buffer[lineEnd] !== CR) lineEnd += 1;
    if (lineEnd + 1 >= buffer.length) return INCOMPLETE;
    const type = buffer[start];
    const next = lineEnd + 2;
    switch (type) {
      case 0x2b: // +simple; a transaction answers QUEUED once per event: not decoded
        this.at = next;
        return lineEnd - start === 7 && buffer[start + 1] === 0x51
          ? 'QUEUED'
          : buffer.toString('latin1', start + 1, lineEnd);
      case 0x2d: // -error
        this.at = next;
        return new ReplyError(buffer.toString('latin1', start + 1, lineEnd));
      case 0x3a: // :integer
        this.at = next;
        return this.integer(start + 1, lineEnd);
      case 0x24: {
        // $bulk
        const length = this.integer(start + 1, lineEnd);
        if (length < 0) {
          this.at = next;
          return null;
        }
        if (next + length + 2 > buffer.length) return INCOMPLETE;
        this.at = next + length + 2;
        return keep ? buffer.toString('utf8', next, next + length) : undefined;
      }
      case 0x2a: {
        // *array
        const count = this.integer(start + 1, lineEnd);
        this.at = next;
        if (count < 0) return null;
        const items: Reply[] = new Array(count);
        for (let i = 0; i < count; i += 1) {
          const item = this.parse(keep);
          if (item === INCOMPLETE) return INCOMPLETE;
          items[i] = item;
        }
        return items;
      }
      default:
        throw new Error(
          `unexpected reply from Redis: ${buffer.toString('latin1', start, start + 20)}`,
        );
    }
  }
}
