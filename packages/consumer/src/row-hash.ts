/**
 * A row's hash for verification, the same as Postgres's `uuid_hash_extended(id, version)`: Bob
 * Jenkins's lookup3 over the UUID's 16 bytes, seeded with the version (`hash_bytes_extended` in
 * Postgres's `common/hashfn.c`). Postgres keeps that function stable across versions (hash
 * partitioning depends on it), and it costs the source about a tenth of an MD5 of the row's text,
 * which is what makes verifying a tenant much cheaper than backfilling it (docs/VERIFY.md).
 *
 * Written for little-endian word reads, as Postgres computes on every platform we run on; the
 * cross-language test (test/verify.test.ts) compares with the server row by row.
 */

const rot = (x: number, k: number) => ((x << k) | (x >>> (32 - k))) >>> 0;

// The hash's state, kept in module variables rather than an array or a tuple per row: digesting a
// range hashes every row it holds, so the per-row cost is the verification's cost to the
// application.
let a = 0;
let b = 0;
let c = 0;

function mix() {
  a = (a - c) >>> 0;
  a = (a ^ rot(c, 4)) >>> 0;
  c = (c + b) >>> 0;
  b = (b - a) >>> 0;
  b = (b ^ rot(a, 6)) >>> 0;
  a = (a + c) >>> 0;
  c = (c - b) >>> 0;
  c = (c ^ rot(b, 8)) >>> 0;
  b = (b + a) >>> 0;
  a = (a - c) >>> 0;
  a = (a ^ rot(c, 16)) >>> 0;
  c = (c + b) >>> 0;
  b = (b - a) >>> 0;
  b = (b ^ rot(a, 19)) >>> 0;
  a = (a + c) >>> 0;
  c = (c - b) >>> 0;
  c = (c ^ rot(b, 4)) >>> 0;
  b = (b + a) >>> 0;
}

function final() {
  c = (c ^ b) >>> 0;
  c = (c - rot(b, 14)) >>> 0;
  a = (a ^ c) >>> 0;
  a = (a - rot(c, 11)) >>> 0;
  b = (b ^ a) >>> 0;
  b = (b - rot(a, 25)) >>> 0;
  c = (c ^ b) >>> 0;
  c = (c - rot(b, 16)) >>> 0;
  a = (a ^ c) >>> 0;
  a = (a - rot(c, 4)) >>> 0;
  b = (b ^ a) >>> 0;
  b = (b - rot(a, 14)) >>> 0;
  c = (c ^ b) >>> 0;
  c = (c - rot(b, 24)) >>> 0;
}

const UUID_LEN = 16;
const INIT = (0x9e3779b9 + UUID_LEN + 3923095) >>> 0;

/** Each ASCII code's hex digit value, -1 for any other character. */
const HEX_DIGIT = new Int8Array(128).fill(-1);
for (let i = 0; i < 16; i++) {
  HEX_DIGIT['0123456789abcdef'.charCodeAt(i)] = i;
  HEX_DIGIT['0123456789ABCDEF'.charCodeAt(i)] = i;
}
/** Where the 32 hex digits of a dashed UUID are (8-4-4-4-12). */
const DASHED_AT = Array.from(
  { length: 32 },
  (_, k) => k + (k < 8 ? 0 : k < 12 ? 1 : k < 16 ? 2 : k < 20 ? 3 : 4),
);
const PLAIN_AT = Array.from({ length: 32 }, (_, k) => k);

/**
 * Digits `first`..`first + 7` of the UUID as the little-endian uint32 of their 4 bytes (the word
 * Postgres reads); -1 when one is not a hex digit.
 */
function wordLE(id: string, at: readonly number[], first: number): number {
  let be = 0;
  for (let k = first; k < first + 8; k++) {
    const code = id.charCodeAt(at[k] as number);
    const digit = code < 128 ? (HEX_DIGIT[code] as number) : -1;
    if (digit < 0) return -1;
    be = (be << 4) | digit;
  }
  be >>>= 0;
  return (((be & 0xff) << 24) | ((be & 0xff00) << 8) | ((be >>> 8) & 0xff00) | (be >>> 24)) >>> 0;
}

/** Hashes into the module's state; `b` and `c` are then the high and low halves. */
function hashInto(id: string, seed: number): void {
  let at: readonly number[];
  if (id.length === 36) {
    const dashes = id.charCodeAt(8) + id.charCodeAt(13) + id.charCodeAt(18) + id.charCodeAt(23);
    if (dashes !== 4 * 45) throw new Error(`not a UUID: ${id}`);
    at = DASHED_AT;
  } else if (id.length === 32) {
    at = PLAIN_AT;
  } else {
    throw new Error(`not a UUID: ${id}`);
  }
  const w0 = wordLE(id, at, 0);
  const w1 = wordLE(id, at, 8);
  const w2 = wordLE(id, at, 16);
  const w3 = wordLE(id, at, 24);
  if (w0 < 0 || w1 < 0 || w2 < 0 || w3 < 0) throw new Error(`not a UUID: ${id}`);
  a = INIT;
  b = INIT;
  c = INIT;
  if (seed !== 0) {
    a = (a + Math.floor(seed / 0x1_0000_0000)) >>> 0;
    b = (b + (seed >>> 0)) >>> 0;
    mix();
  }
  // 16 bytes: one 12-byte block, then 4 bytes into a.
  a = (a + w0) >>> 0;
  b = (b + w1) >>> 0;
  c = (c + w2) >>> 0;
  mix();
  a = (a + w3) >>> 0;
  final();
}

/**
 * XORs the hashes of rows into two halves, the whole loop without an allocation per row: what a
 * range's digest is made of.
 */
export function xorHashes(rows: Iterable<{ id: string; version: number }>): {
  count: number;
  high: number;
  low: number;
} {
  let count = 0;
  let high = 0;
  let low = 0;
  for (const row of rows) {
    hashInto(row.id, row.version);
    high ^= b;
    low ^= c;
    count += 1;
  }
  return { count, high, low };
}

/** Two 32-bit halves as the signed 64-bit integer Postgres prints. */
export const signed64 = (high: number, low: number): bigint =>
  BigInt.asIntN(64, (BigInt(high >>> 0) << 32n) | BigInt(low >>> 0));

/** `uuid_hash_extended(id, version)`: a signed 64-bit integer, as Postgres prints it. */
export function uuidHashExtended(id: string, version: number): bigint {
  hashInto(id, version);
  return signed64(b, c);
}
