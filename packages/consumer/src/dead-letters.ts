/**
 * The dead-letter stream: entries the consumer gave up on, with the reason. The stream itself is
 * the one record of what is dead-lettered (no counter beside it to drift): a run's count is read
 * from it, and a replay removes an entry from it only once the entry has been handled.
 */
import { EVENT_FIELD, StreamEvent } from '@historical-sync/contracts';
import type { Cluster, Redis } from 'ioredis';
import type { EntryContext } from './entry-context.js';

export interface DeadLetter {
  /** The entry's id in the dead-letter stream. */
  deadLetterId: string;
  /** Where it came from: the source stream and the entry's id there. */
  stream: string;
  id: string;
  reason: string;
  deliveries: number;
  /** The run the entry belonged to ('' for a live event, or when the entry was unreadable). */
  runId: string;
  tenantId: string;
  /** The source entry's fields, as they were. */
  fields: string[];
}

type RawEntry = [id: string, fields: string[]];

function field(fields: string[], name: string): string {
  const at = fields.indexOf(name);
  return at >= 0 && at % 2 === 0 ? (fields[at + 1] ?? '') : '';
}

function toDeadLetter([deadLetterId, fields]: RawEntry): DeadLetter {
  let source: string[] = [];
  try {
    source = JSON.parse(field(fields, 'fields')) as string[];
  } catch {
    // Left empty: the replay reports it as unreadable and keeps it.
  }
  return {
    deadLetterId,
    stream: field(fields, 'stream'),
    id: field(fields, 'id'),
    reason: field(fields, 'reason'),
    deliveries: Number(field(fields, 'deliveries') || 0),
    runId: field(fields, 'runId'),
    tenantId: field(fields, 'tenantId'),
    fields: source,
  };
}

/** Every entry of a dead-letter stream, oldest first, read in pages. */
export async function* readDeadLetters(
  redis: Redis | Cluster,
  deadLetterStream: string,
  pageSize = 500,
): AsyncGenerator<DeadLetter> {
  let start = '-';
  for (;;) {
    const page = (await redis.xrange(
      deadLetterStream,
      start,
      '+',
      'COUNT',
      pageSize,
    )) as RawEntry[];
    for (const entry of page) yield toDeadLetter(entry);
    if (page.length < pageSize) return;
    start = `(${page[page.length - 1]?.[0]}`;
  }
}

/** How many of a run's entries sit in the dead-letter stream (they are rare, so a scan is cheap). */
export async function deadLetteredInRun(
  redis: Redis | Cluster,
  deadLetterStream: string,
  runId: string,
): Promise<number> {
  let count = 0;
  for await (const entry of readDeadLetters(redis, deadLetterStream)) {
    if (entry.runId === runId) count += 1;
  }
  return count;
}

/** The run and tenant an entry names, read leniently: an entry may be dead-lettered as invalid. */
export function entryOwner(raw: string | undefined): { runId: string; tenantId: string } {
  try {
    const value = JSON.parse(raw ?? 'null') as { runId?: unknown; tenantId?: unknown } | null;
    return {
      runId: typeof value?.runId === 'string' ? value.runId : '',
      tenantId: typeof value?.tenantId === 'string' ? value.tenantId : '',
    };
  } catch {
    return { runId: '', tenantId: '' };
  }
}

export interface ReplayOptions {
  redis: Redis | Cluster;
  deadLetterStream: string;
  /** The same handler the consumer runs (apply rules must make a second apply harmless). */
  handler: (event: StreamEvent, context: EntryContext) => Promise<void>;
}

export interface ReplayResult {
  /** Entries handled and removed from the dead-letter stream. */
  replayed: number;
  /** Entries that still fail (or are still not valid events); they stay, with this reason. */
  failed: { deadLetterId: string; stream: string; id: string; reason: string }[];
  /** The runs whose entries were replayed. */
  runs: string[];
}

/**
 * Hands each dead-lettered entry to `handler` again, after a fix (of the code, the schema or the
 * data), and removes it from the dead-letter stream once handled. Running it twice, or beside the
 * consumer, is harmless when the handler dedupes and applies by version: an entry handled but not
 * yet removed (a crash in between) is only applied again as a duplicate.
 */
export async function replayDeadLetters(options: ReplayOptions): Promise<ReplayResult> {
  const { redis, deadLetterStream, handler } = options;
  const result: ReplayResult = { replayed: 0, failed: [], runs: [] };
  const runs = new Set<string>();
  const entries: DeadLetter[] = [];
  for await (const entry of readDeadLetters(redis, deadLetterStream)) entries.push(entry);
  for (const entry of entries) {
    const fail = (reason: string) =>
      result.failed.push({
        deadLetterId: entry.deadLetterId,
        stream: entry.stream,
        id: entry.id,
        reason,
      });
    let event: StreamEvent;
    try {
      const parsed = StreamEvent.safeParse(JSON.parse(field(entry.fields, EVENT_FIELD) || 'null'));
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        fail(`invalid event: ${issue?.path.join('.') || 'event'}: ${issue?.message}`);
        continue;
      }
      event = parsed.data;
    } catch (error) {
      fail(`invalid event: ${error instanceof Error ? error.message : String(error)}`);
      continue;
    }
    try {
      await handler(event, {
        stream: entry.stream,
        id: entry.id,
        deliveries: entry.deliveries + 1,
        replay: true,
      });
    } catch (error) {
      fail(error instanceof Error ? error.message : String(error));
      continue;
    }
    await redis.xdel(deadLetterStream, entry.deadLetterId);
    result.replayed += 1;
    if (entry.runId) runs.add(entry.runId);
  }
  result.runs = [...runs];
  return result;
}
