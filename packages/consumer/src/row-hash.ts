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

function mix(s: Uint32Array) {
  let [a, b, c] = s as unknown as [number, number, number];
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
  s[0] = a;
  s[1] = b;
  s[2] = c;
}

function final(s: Uint32Array) {
  let [a, b, c] = s as unknown as [number, number, number];
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
  s[0] = a;
  s[1] = b;
  s[2] = c;
}

const UUID_LEN = 16;
const INIT = (0x9e3779b9 + UUID_LEN + 3923095) >>> 0;
const HEX_UUID = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;

/** 8 hex digits as the little-endian uint32 of their 4 bytes (the word Postgres reads). */
function wordLE(hex: string): number {
  const be = Number.parseInt(hex, 16);
  return (((be & 0xff) << 24) | ((be & 0xff00) << 8) | ((be >>> 8) & 0xff00) | (be >>> 24)) >>> 0;
}

/**
 * `uuid_hash_extended(id, seed)` as its two 32-bit halves [high, low]: the per-row work stays in
 * plain numbers (a digest XORs halves; one BigInt per range, not per row).
 */
export function uuidHashHalves(id: string, seed: number): [number, number] {
  if (!HEX_UUID.test(id)) throw new Error(`not a UUID: ${id}`);
  const hex = id.length === 36 ? id.replaceAll('-', '') : id;
  const s = new Uint32Array(3);
  s[0] = INIT;
  s[1] = INIT;
  s[2] = INIT;
  if (seed !== 0) {
    s[0] = (s[0] + Math.floor(seed / 0x1_0000_0000)) >>> 0;
    s[1] = (s[1] + (seed >>> 0)) >>> 0;
    mix(s);
  }
  // 16 bytes: one 12-byte block, then 4 bytes into a.
  s[0] = (s[0] + wordLE(hex.slice(0, 8))) >>> 0;
  s[1] = (s[1] + wordLE(hex.slice(8, 16))) >>> 0;
  s[2] = (s[2] + wordLE(hex.slice(16, 24))) >>> 0;
  mix(s);
  s[0] = (s[0] + wordLE(hex.slice(24, 32))) >>> 0;
  final(s);
  return [s[1] as number, s[2] as number];
}

/** Two 32-bit halves as the signed 64-bit integer Postgres prints. */
export const signed64 = (high: number, low: number): bigint =>
  BigInt.asIntN(64, (BigInt(high >>> 0) << 32n) | BigInt(low >>> 0));

/** `uuid_hash_extended(id, version)`: a signed 64-bit integer, as Postgres prints it. */
export function uuidHashExtended(id: string, version: number): bigint {
  const [high, low] = uuidHashHalves(id, version);
  return signed64(high, low);
}
