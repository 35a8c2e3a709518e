/**
 * The verification protocol between the system and an application (docs/VERIFY.md): the system
 * asks the application, over Redis, for digests of what it holds of one tenant's resource over id
 * ranges, or for the rows themselves over small ranges; the application's SDK answers from rows
 * its own store yields. Both sides hash the same way, so equal digests mean equal rows.
 *
 * What is compared: the rows an application holds as active, each as its id and version. The hash
 * of a row is Postgres's `uuid_hash_extended(id, version)`: lookup3 over the id's 16 bytes seeded
 * with the version, a signed 64-bit integer (stable across Postgres versions, which partition by
 * it; the consumer SDK's row-hash.ts computes the same); a range's digest is its row count and the
 * XOR of its rows' hashes (decimal text). A checksum against accidents, not a defence against an
 * adversary: a collision needs rows chosen on purpose, and only the source writes rows.
 */
import { z } from 'zod';
import { isResource } from './resources.js';

/** An id range: `lo` inclusive, `hi` exclusive (null = to the end of the id space). */
export const IdRange = z.object({ lo: z.guid(), hi: z.guid().nullable() });
export type IdRange = z.infer<typeof IdRange>;

const requestBase = {
  requestId: z.string().min(1).max(100),
  tenantId: z.guid(),
  resource: z.string().refine(isResource, 'must be a resource'),
  /** Epoch milliseconds after which nobody waits for the answer (a responder skips it). */
  deadline: z.number().int(),
};

/** One active row as an application holds it. */
export const HeldRow = z.object({ id: z.guid(), version: z.number().int().min(0) });
export type HeldRow = z.infer<typeof HeldRow>;

export const VerifyRequest = z.discriminatedUnion('kind', [
  z.object({
    ...requestBase,
    /** `digest`: one digest per range. `rows`: every active row of each range. */
    kind: z.enum(['digest', 'rows']),
    ranges: z.array(IdRange).min(1).max(4096),
  }),
  z.object({
    ...requestBase,
    /**
     * `forget`: drop these rows, which the source never had (a repair cannot send an event for
     * them: the contract's tombstones carry the row's fields). Each only at or below the version
     * given, so a row the source writes meanwhile, delivered with a higher version, stays.
     */
    kind: z.literal('forget'),
    rows: z.array(HeldRow).min(1).max(4096),
  }),
]);
export type VerifyRequest = z.infer<typeof VerifyRequest>;

export const RangeDigest = z.object({
  count: z.number().int().min(0),
  /** XOR of the rows' hashes, as signed 64-bit decimal text ("0" for an empty range). */
  xor: z.string().regex(/^-?\d{1,20}$/),
});
export type RangeDigest = z.infer<typeof RangeDigest>;

export const VerifyReply = z.object({
  requestId: z.string(),
  /** kind `digest`: one per range, in the request's order. */
  digests: z.array(RangeDigest).optional(),
  /** kind `rows`: the rows of each range, in the request's order. */
  rows: z.array(z.array(HeldRow)).optional(),
  /** kind `forget`: how many of the rows the application dropped. */
  forgotten: z.number().int().min(0).optional(),
  /** The application could not answer (its store is away): a person reads it. */
  error: z.string().optional(),
});
export type VerifyReply = z.infer<typeof VerifyReply>;

/** Where an application reads verification requests (beside its streams; one key per call). */
export const verifyRequestStream = (appCode: string, prefix = '') =>
  `${prefix}${appCode}:verify:requests`;

/** Where the answer to one request goes (a list the system waits on, expiring after a minute). */
export const verifyReplyKey = (appCode: string, requestId: string, prefix = '') =>
  `${prefix}${appCode}:verify:reply:${requestId}`;

/** The field of a request entry that carries the request as JSON. */
export const VERIFY_REQUEST_FIELD = 'request';
