/**
 * The application's side of verification (the protocol: `verify.ts` in the contracts). The system
 * asks, over a request stream beside the application's streams, for digests of what the
 * application holds of one tenant's resource over id ranges (or for the rows of small ranges);
 * the responder answers from the rows one hook yields, hashed exactly as the source hashes its
 * own, so equal digests mean equal rows and a difference narrows down to the rows that differ.
 */
import {
  type HeldRow,
  type IdRange,
  type RangeDigest,
  type Resource,
  VERIFY_REQUEST_FIELD,
  type VerifyReply,
  VerifyRequest,
  verifyReplyKey,
  verifyRequestStream,
} from '@historical-sync/contracts';
import type { Cluster, Redis } from 'ioredis';
import { createGroup, isGroupGone } from './groups.js';
import { signed64, uuidHashExtended, xorHashes } from './row-hash.js';

/**
 * A row's hash: Postgres's `uuid_hash_extended(id, version)` (row-hash.ts), a signed 64-bit
 * integer, so both sides print the same decimal text. Ids in any case hash the same (bytes).
 */
export function rowHash(id: string, version: number): bigint {
  return uuidHashExtended(id, version);
}

/** A range's digest: how many rows and the XOR of their hashes (order does not matter). */
export function digestRows(rows: Iterable<HeldRow>): RangeDigest {
  const { count, high, low } = xorHashes(rows);
  return { count, xor: signed64(high, low).toString() };
}

/** One row as the application's store holds it; inactive rows (tombstones) are left out. */
export interface StoredRow {
  id: string;
  version: number;
  active: boolean;
}

export interface VerifyRowsQuery {
  tenantId: string;
  resource: Resource;
  /** `lo` inclusive, `hi` exclusive, `hi: null` to the end; ids compare as UUIDs. */
  range: IdRange;
}

export interface VerifyForgetQuery {
  tenantId: string;
  resource: Resource;
  rows: HeldRow[];
}

export interface VerifyResponderHooks {
  /** A Redis call or the `rows` hook failed (a failing hook is also answered as an error). */
  onError?(error: unknown): void;
  /** An entry that is not a valid request: acknowledged and dropped. */
  onMalformed?(entry: { id: string; reason: string }): void;
  /** A request read after its deadline (nobody waits for the answer): acknowledged unanswered. */
  onExpired?(request: { requestId: string; deadline: number }): void;
  onAnswered?(answer: {
    requestId: string;
    kind: VerifyRequest['kind'];
    /** Ranges asked about (rows, for `forget`). */
    ranges: number;
    durationMs: number;
    error?: string;
  }): void;
}

export interface VerifyResponderOptions {
  /** A connection (or Cluster client); duplicated for the blocking reads. */
  redis: Redis | Cluster;
  appCode: string;
  streamPrefix?: string;
  /** This process's name in the `verify` group; unique per process. */
  consumerName: string;
  /**
   * The application's rows of one tenant's resource in one id range, active or not. Rows outside
   * the range are ignored, so a store without range queries may yield more.
   */
  rows(
    query: VerifyRowsQuery,
  ): Promise<Iterable<StoredRow> | AsyncIterable<StoredRow>> | AsyncIterable<StoredRow>;
  /**
   * Drops rows the source never had (a verification's repair asks: docs/VERIFY.md), each only
   * while the application holds it at or below the version given; resolves to how many it
   * dropped. Without it such rows are reported unrepaired.
   */
  forget?(query: VerifyForgetQuery): Promise<number> | number;
  /** How long one read blocks: a stop waits at most this long. */
  blockMs?: number;
  hooks?: VerifyResponderHooks;
}

export interface VerifyResponder {
  /** Finishes the request in hand and stops; safe to call twice. */
  stop(): Promise<void>;
}

/** The consumer group every responder of an application shares, so each request is answered once. */
export const VERIFY_GROUP = 'verify';
/** The system waits on a reply for less than this; the key then goes away on its own. */
const REPLY_TTL_MS = 60_000;
const MAX_BACKOFF_MS = 5_000;

/** Fields are null for a pending entry read again ('0') after the stream trimmed it away. */
type RawEntry = [id: string, fields: string[] | null];

export function startVerifyResponder(options: VerifyResponderOptions): VerifyResponder {
  const { redis, appCode, consumerName, hooks = {} } = options;
  const prefix = options.streamPrefix ?? '';
  const stream = verifyRequestStream(appCode, prefix);
  const blockMs = options.blockMs ?? 1_000;
  // A blocking read holds its connection: it gets its own, so the replies never wait behind it.
  const reader = (redis as Redis).duplicate();
  let stopping = false;
  let wake: (() => void) | undefined;
  // Our own entries left unacknowledged (a reply that failed to go out) are read again first.
  let pendingFirst = true;
  let backoffMs = 0;
  // Created by the loop, so a responder started while Redis is away begins once it is back.
  let groupReady = false;

  // '0': a request written before the group existed (the stream was deleted and a request added
  // since) is still answered. MKSTREAM: the system may not have asked anything yet.
  const ensureGroup = () => createGroup(redis, stream, VERIFY_GROUP, '0');

  const answer = async (reply: VerifyReply) => {
    const key = verifyReplyKey(appCode, reply.requestId, prefix);
    // One transaction: the list never exists without its expiry, even if this process dies.
    await redis.multi().rpush(key, JSON.stringify(reply)).pexpire(key, REPLY_TTL_MS).exec();
  };

  const handle = async ([id, fields]: RawEntry) => {
    if (fields === null) {
      // Nothing left to answer, and read again it would stop every later request.
      hooks.onMalformed?.({ id, reason: 'trimmed from the stream before it was answered' });
      return;
    }
    const raw = fieldValue(fields, VERIFY_REQUEST_FIELD);
    let json: unknown;
    try {
      json = JSON.parse(raw ?? '');
    } catch {
      json = undefined;
    }
    const parsed = VerifyRequest.safeParse(json);
    if (!parsed.success) {
      const reason =
        json === undefined
          ? `field '${VERIFY_REQUEST_FIELD}' is not JSON`
          : parsed.error.issues
              .map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`)
              .join('; ');
      hooks.onMalformed?.({ id, reason });
      // If it names a request, the system waiting for it learns why now instead of at its deadline.
      const requestId = (json as { requestId?: unknown } | null)?.requestId;
      if (typeof requestId === 'string' && requestId.length > 0 && requestId.length <= 100) {
        await answer({ requestId, error: `malformed request: ${reason}` });
      }
      return;
    }
    const request = parsed.data;
    const started = performance.now();
    let reply: VerifyReply | undefined;
    try {
      reply = await compute(request, options);
    } catch (error) {
      hooks.onError?.(error);
      reply = { requestId: request.requestId, error: errorMessage(error) };
    }
    // Undefined: the deadline passed, before the first range or while computing: nobody waits.
    if (reply === undefined) {
      hooks.onExpired?.({ requestId: request.requestId, deadline: request.deadline });
      return;
    }
    await answer(reply);
    hooks.onAnswered?.({
      requestId: request.requestId,
      kind: request.kind,
      ranges: request.kind === 'forget' ? request.rows.length : request.ranges.length,
      durationMs: performance.now() - started,
      ...(reply.error !== undefined ? { error: reply.error } : {}),
    });
  };

  const readOne = async () => {
    // One request at a time (COUNT 1): a request may ask for thousands of ranges, and requests
    // waiting behind it are left to the application's other processes. Our own pending entries
    // ('0') are read without blocking; new ones ('>') block for up to `blockMs`.
    const reply = (
      pendingFirst
        ? await reader.xreadgroup(
            'GROUP',
            VERIFY_GROUP,
            consumerName,
            'COUNT',
            1,
            'STREAMS',
            stream,
            '0',
          )
        : await reader.xreadgroup(
            'GROUP',
            VERIFY_GROUP,
            consumerName,
            'COUNT',
            1,
            'BLOCK',
            blockMs,
            'STREAMS',
            stream,
            '>',
          )
    ) as [string, RawEntry[]][] | null;
    const entries = reply?.[0]?.[1] ?? [];
    if (pendingFirst && entries.length === 0) pendingFirst = false;
    for (const entry of entries) {
      await handle(entry);
      // Acknowledged once answered (or dropped): a reply that fails to go out leaves it pending
      // and it is read again (`pendingFirst`) until answered or past its deadline.
      await redis.xack(stream, VERIFY_GROUP, entry[0]);
    }
  };

  const loop = async () => {
    while (!stopping) {
      try {
        if (!groupReady) {
          await ensureGroup();
          groupReady = true;
        }
        await readOne();
        backoffMs = 0;
      } catch (error) {
        pendingFirst = true;
        if (stopping) break;
        if (isGroupGone(error)) {
          // The stream was deleted (or trimmed away and deleted) under the group: create it again
          // at once, or the responder would never answer another request.
          groupReady = false;
          continue;
        }
        hooks.onError?.(error);
        backoffMs = Math.min(MAX_BACKOFF_MS, backoffMs ? backoffMs * 2 : 100);
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, backoffMs);
        });
      }
    }
  };

  const running = loop();
  return {
    async stop() {
      stopping = true;
      wake?.();
      await running;
      reader.disconnect();
    },
  };
}

/**
 * The reply to a valid request, or undefined once its deadline has passed: checked before each
 * range, so a request read late costs nothing and one that outlives its deadline stops early.
 */
async function compute(
  request: VerifyRequest,
  { rows, forget }: Pick<VerifyResponderOptions, 'rows' | 'forget'>,
): Promise<VerifyReply | undefined> {
  const { requestId, tenantId, resource } = request;
  if (Date.now() > request.deadline) return undefined;
  if (request.kind === 'forget') {
    if (!forget) {
      return {
        requestId,
        error: 'this application has no forget hook (startVerifyResponder option `forget`)',
      };
    }
    const forgotten = await forget({ tenantId, resource, rows: request.rows });
    return { requestId, forgotten };
  }
  const { kind } = request;
  const digests: RangeDigest[] = [];
  const listed: HeldRow[][] = [];
  for (const range of request.ranges) {
    if (Date.now() > request.deadline) return undefined;
    const lo = range.lo.toLowerCase();
    const hi = range.hi?.toLowerCase() ?? null;
    const held: HeldRow[] = [];
    for await (const row of await rows({ tenantId, resource, range: { lo, hi } })) {
      if (!row.active) continue;
      const id = row.id.toLowerCase();
      // Lowercase UUID text compares as Postgres orders uuids (byte by byte), so the source's
      // ranges and these bounds agree.
      if (id < lo || (hi !== null && id >= hi)) continue;
      if (!Number.isSafeInteger(row.version) || row.version < 0) {
        throw new Error(`row ${id} has version ${row.version}: not a non-negative integer`);
      }
      held.push({ id, version: row.version });
    }
    if (kind === 'rows') listed.push(held.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)));
    else digests.push(digestRows(held));
  }
  return kind === 'rows' ? { requestId, rows: listed } : { requestId, digests };
}

function fieldValue(fields: string[], name: string): string | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
