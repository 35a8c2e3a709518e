/**
 * The source's side of a verification: the same digests the application computes (contracts,
 * verify.ts), worked out by Postgres over id ranges of one tenant's resource, and the rows of
 * small ranges. What is compared is what the application must hold as active: the rows a backfill
 * publishes that are active now (resources.ts's scope, and `is_active`).
 *
 * Ranges are hex prefixes of the id: '' is every id, '3' the ids starting with 3, '3a' those
 * starting with 3a; a prefix's children split it in 16. The ids are random, so siblings hold about
 * as many rows each.
 */
import type { IdRange, RangeDigest, Resource } from '@historical-sync/contracts';
import type { Db } from '@historical-sync/db';
import { sql } from 'kysely';
import { belongsToApplication, RESOURCE_DEFINITIONS } from '../resources';

const HEX = '0123456789abcdef';

/** The 16 prefixes one hex digit longer. */
export const childPrefixes = (prefix: string): string[] => [...HEX].map((d) => prefix + d);

const asUuid = (hex32: string) =>
  `${hex32.slice(0, 8)}-${hex32.slice(8, 12)}-${hex32.slice(12, 16)}-${hex32.slice(16, 20)}-${hex32.slice(20)}`;

/** The id range a prefix stands for: [prefix000…, next prefix000…), open above for ff…f. */
export function prefixRange(prefix: string): IdRange {
  const lo = asUuid(prefix.padEnd(32, '0'));
  if (/^f*$/.test(prefix)) return { lo, hi: null };
  const next = (BigInt(`0x${prefix}`) + 1n).toString(16).padStart(prefix.length, '0');
  return { lo, hi: asUuid(next.padEnd(32, '0')) };
}

/** One source row of a range, active or not, for comparing rows one by one. */
export interface SourceRow {
  id: string;
  version: number;
  active: boolean;
  updatedAt: Date;
}

// uuid_hash_extended: lookup3 over the id's bytes seeded with the version, a tenth of the cost
// of an MD5 of the row's text (the consumer SDK's row-hash.ts computes the same).
const rowHashSql = sql`uuid_hash_extended(t.id, t.version)`;

function scope(resource: Resource, tenantId: string, appCode: string) {
  return {
    table: sql.table(RESOURCE_DEFINITIONS[resource].table),
    // The application's rows, active or not (the digests add `is_active`); bare columns resolve
    // to the one table of the statement.
    where: belongsToApplication(resource, { tenantId, appCode }),
  };
}

/** The last id a range holds: `hi` - 1, or the largest UUID for a range open above. */
function lastId(range: IdRange): string {
  if (range.hi === null) return asUuid('f'.repeat(32));
  const hi = BigInt(`0x${range.hi.replaceAll('-', '')}`);
  return asUuid((hi - 1n).toString(16).padStart(32, '0'));
}

/**
 * The ranges as a relation of (lo, last, i): closed bounds, so each range reads as one index range
 * scan (an open or null upper bound would make the planner scan to the tenant's end).
 */
const rangesRelation = (ranges: readonly IdRange[]) =>
  sql`unnest(${ranges.map((r) => r.lo)}::uuid[], ${ranges.map(lastId)}::uuid[]) WITH ORDINALITY AS r(lo, last, i)`;

/** Digests of the active rows in each range, in order: one statement for every range. */
export async function sourceDigests(
  db: Db,
  target: { tenantId: string; appCode: string; resource: Resource },
  ranges: readonly IdRange[],
): Promise<RangeDigest[]> {
  const { table, where } = scope(target.resource, target.tenantId, target.appCode);
  const { rows } = await sql<{ i: string; n: number; x: string }>`
    SELECT r.i, d.n, d.x
    FROM ${rangesRelation(ranges)}
    CROSS JOIN LATERAL (
      SELECT count(*)::int AS n, coalesce(bit_xor(${rowHashSql}), 0)::text AS x
      FROM ${table} AS t
      WHERE ${where} AND t.is_active AND t.id BETWEEN r.lo AND r.last
    ) AS d
    ORDER BY r.i
  `.execute(db);
  return rows.map((row) => ({ count: row.n, xor: row.x }));
}

/** Every row (active or not) of each range, by id, with when it last changed. */
export async function sourceRows(
  db: Db,
  target: { tenantId: string; appCode: string; resource: Resource },
  ranges: readonly IdRange[],
): Promise<SourceRow[][]> {
  const { table, where } = scope(target.resource, target.tenantId, target.appCode);
  const { rows } = await sql<{
    i: string;
    id: string;
    version: number;
    active: boolean;
    updated_at: Date;
  }>`
    SELECT r.i, t.id, t.version, t.is_active AS active, t.updated_at
    FROM ${rangesRelation(ranges)}
    CROSS JOIN LATERAL (
      SELECT t.id, t.version, t.is_active, t.updated_at FROM ${table} AS t
      WHERE ${where} AND t.id BETWEEN r.lo AND r.last
    ) AS t
    ORDER BY r.i, t.id
  `.execute(db);
  const byRange: SourceRow[][] = ranges.map(() => []);
  for (const row of rows) {
    byRange[Number(row.i) - 1]?.push({
      id: row.id,
      version: row.version,
      active: row.active,
      updatedAt: row.updated_at,
    });
  }
  return byRange;
}
