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

/** Reads replies from a byte stream; `read` returns NEED_MORE until a whole reply has arrived. */
export class ReplyReader {
  static readonly NEED_MORE = Symbol('need more');
  private buffer: Buffer = Buffer.alloc(0);
  private offset = 0;

  push(chunk: Buffer): void {
    const rest = this.buffer.subarray(this.offset);
    this.buffer = rest.length ? Buffer.concat([rest, chunk]) : chunk;
    this.offset = 0;
  }

  /** The next whole reply, consumed; NEED_MORE (nothing consumed) when it has not all arrived. */
  read(keep: boolean): Reply | typeof ReplyReader.NEED_MORE {
    const end = this.parse(this.offset, keep);
    if (end === undefined) return ReplyReader.NEED_MORE;
    this.offset = end.at;
    return end.value;
  }

  private parse(at: number, keep: boolean): { value: Reply; at: number } | undefined {
    const lineEnd = this.buffer.indexOf(CR, at);
    if (lineEnd < 0 || lineEnd + 1 >= this.buffer.length) return undefined;
    const type = this.buffer[at];
    // A transaction answers QUEUED once per event: recognised without decoding it.
    if (type === 0x2b && lineEnd - at === 7 && this.buffer[at + 1] === 0x51) {
      return { value: 'QUEUED', at: lineEnd + 2 };
    }
    const line = this.buffer.toString('latin1', at + 1, lineEnd);
    const next = lineEnd + 2;
    switch (type) {
      case 0x2b: // +simple
        return { value: line, at: next };
      case 0x2d: // -error
        return { value: new ReplyError(line), at: next };
      case 0x3a: // :integer
        return { value: Number(line), at: next };
      case 0x24: {
        // $bulk
        const length = Number(line);
        if (length < 0) return { value: null, at: next };
        if (next + length + 2 > this.buffer.length) return undefined;
        const value = keep ? this.buffer.toString('utf8', next, next + length) : undefined;
        return { value, at: next + length + 2 };
      }
      case 0x2a: {
        // *array
        const count = Number(line);
        if (count < 0) return { value: null, at: next };
        const items: Reply[] = [];
        let cursor = next;
        for (let i = 0; i < count; i += 1) {
          const item = this.parse(cursor, keep);
          if (!item) return undefined;
          items.push(item.value);
          cursor = item.at;
        }
        return { value: items, at: cursor };
      }
      default:
        throw new Error(
          `unexpected reply from Redis: ${this.buffer.toString('latin1', at, at + 20)}`,
        );
    }
  }
}
