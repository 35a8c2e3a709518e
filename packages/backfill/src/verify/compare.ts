/**
 * Compares what an application holds of one tenant's resource with the source, Merkle-style: the
 * digests of the 16 top id ranges first; a range whose digests differ is split in 16 and compared
 * again, down to leaves of a few hundred rows, whose rows are then compared one by one. So an
 * in-sync tenant costs one round of digests, and the cost follows the differences, not the
 * table's size.
 *
 * Live writes go on meanwhile. A row the source changed since the verification started is not a
 * difference (the live path is delivering it), and a leaf that still differs is read again from
 * the application once its consumers have caught up, so an event that was in flight when the leaf
 * was read is not taken for a difference either.
 */
import type { HeldRow, IdRange, Resource } from '@historical-sync/contracts';
import type { Db } from '@historical-sync/db';
import type { Cluster, Redis } from 'ioredis';
import { type ApplicationTarget, applicationDigests, applicationRows } from './application';
import { childPrefixes, prefixRange, type SourceRow, sourceDigests, sourceRows } from './source';

/** A row that differs: missing (the source has it active, the application does not), stale (the
 * application holds another version), ghost (the application holds it active, the source not). */
export type DifferenceKind = 'missing' | 'stale' | 'ghost';

export interface Difference {
  id: string;
  kind: DifferenceKind;
  /** The source's version (null when the source has no such row) and the application's. */
  sourceVersion: number | null;
  applicationVersion: number | null;
}

export interface ResourceComparison {
  resource: Resource;
  /** Active rows the source has, all compared. */
  rowsChecked: number;
  /** Ranges whose digests were compared, at every level. */
  rangesCompared: number;
  /** Leaves whose rows were compared one by one, and those that still differed. */
  leavesCompared: number;
  differingLeaves: IdRange[];
  missing: number;
  stale: number;
  ghost: number;
  /** Rows that differed but changed at the source since the verification started: not counted. */
  changedDuringVerification: number;
  /** The differences, all of them (bounded by the leaves: a few hundred rows each). */
  differences: Difference[];
}

export interface CompareOptions {
  db: Db;
  /** A connection of the verification's own: requests wait on it (BLPOP). */
  redis: Redis | Cluster;
  target: ApplicationTarget;
  /** Source rows changed at or after this are the live path's. */
  startedAt: Date;
  /** A range whose both sides hold at most this many rows is compared row by row. */
  leafRows?: number;
  /** How long the application may take to answer one request. */
  timeoutMs?: number;
  /** Waits until the application's consumers have caught up with its streams (or gives up). */
  consumersCaughtUp: () => Promise<void>;
}

/** Ranges per request: a request is one Redis entry, its answer one list element. */
const RANGES_PER_REQUEST = 512;
/** Below this the prefix is as long as random ids make useful: compare its rows whatever. */
const MAX_PREFIX = 6;

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

export async function compareResource(options: CompareOptions): Promise<ResourceComparison> {
  const leafRows = options.leafRows ?? 256;
  const timeoutMs = options.timeoutMs ?? 30_000;
  const { db, redis, target } = options;
  const result: ResourceComparison = {
    resource: target.resource,
    rowsChecked: 0,
    rangesCompared: 0,
    leavesCompared: 0,
    differingLeaves: [],
    missing: 0,
    stale: 0,
    ghost: 0,
    changedDuringVerification: 0,
    differences: [],
  };
  const leaves: string[] = [];
  let frontier = childPrefixes('');
  let top = true;
  while (frontier.length > 0) {
    const next: string[] = [];
    for (const prefixes of chunks(frontier, RANGES_PER_REQUEST)) {
      const ranges = prefixes.map(prefixRange);
      const [source, application] = await Promise.all([
        sourceDigests(db, target, ranges),
        applicationDigests(redis, target, ranges, timeoutMs),
      ]);
      result.rangesCompared += ranges.length;
      prefixes.forEach((prefix, i) => {
        const s = source[i];
        const a = application[i];
        if (!s || !a) return;
        if (top) result.rowsChecked += s.count;
        if (s.count === a.count && s.xor === a.xor) return;
        if ((s.count <= leafRows && a.count <= leafRows) || prefix.length >= MAX_PREFIX) {
          leaves.push(prefix);
        } else {
          next.push(...childPrefixes(prefix));
        }
      });
    }
    frontier = next;
    top = false;
  }
  if (leaves.length === 0) return result;

  // Row by row, then once more for the leaves that differ, after the consumers caught up.
  const ranges = leaves.map(prefixRange);
  const sourceByLeaf = await readSourceRows(db, target, ranges);
  let differing = await differingLeaves(options, ranges, sourceByLeaf, timeoutMs);
  result.leavesCompared = ranges.length;
  if (differing.length > 0) {
    await options.consumersCaughtUp();
    differing = await differingLeaves(
      options,
      differing.map((d) => d.range),
      await readSourceRows(
        db,
        target,
        differing.map((d) => d.range),
      ),
      timeoutMs,
    );
  }
  for (const leaf of differing) {
    if (leaf.differences.length > 0) result.differingLeaves.push(leaf.range);
    result.changedDuringVerification += leaf.changedDuringVerification;
    for (const difference of leaf.differences) {
      result[difference.kind] += 1;
      result.differences.push(difference);
    }
  }
  return result;
}

async function readSourceRows(
  db: Db,
  target: ApplicationTarget,
  ranges: readonly IdRange[],
): Promise<SourceRow[][]> {
  const out: SourceRow[][] = [];
  for (const part of chunks(ranges, RANGES_PER_REQUEST))
    out.push(...(await sourceRows(db, target, part)));
  return out;
}

interface LeafDifferences {
  range: IdRange;
  differences: Difference[];
  changedDuringVerification: number;
}

async function differingLeaves(
  options: CompareOptions,
  ranges: readonly IdRange[],
  sourceByLeaf: readonly SourceRow[][],
  timeoutMs: number,
): Promise<LeafDifferences[]> {
  const held: HeldRow[][] = [];
  for (const part of chunks(ranges, RANGES_PER_REQUEST)) {
    held.push(...(await applicationRows(options.redis, options.target, part, timeoutMs)));
  }
  const out: LeafDifferences[] = [];
  ranges.forEach((range, i) => {
    const leaf = classify(sourceByLeaf[i] ?? [], held[i] ?? [], options.startedAt);
    if (leaf.differences.length > 0 || leaf.changedDuringVerification > 0) {
      out.push({ range, ...leaf });
    }
  });
  return out;
}

/** The differences of one leaf, rows the source changed since `startedAt` set apart. */
export function classify(
  source: readonly SourceRow[],
  held: readonly HeldRow[],
  startedAt: Date,
): { differences: Difference[]; changedDuringVerification: number } {
  const bySource = new Map(source.map((row) => [row.id, row]));
  const byApplication = new Map(held.map((row) => [row.id, row]));
  const differences: Difference[] = [];
  let changedDuringVerification = 0;
  for (const id of new Set([...bySource.keys(), ...byApplication.keys()])) {
    const s = bySource.get(id);
    const a = byApplication.get(id);
    const active = s?.active ? s : undefined;
    let kind: DifferenceKind | undefined;
    if (active && !a) kind = 'missing';
    else if (!active && a) kind = 'ghost';
    else if (active && a && active.version !== a.version) kind = 'stale';
    if (!kind) continue;
    if (s && s.updatedAt >= startedAt) {
      changedDuringVerification += 1;
      continue;
    }
    differences.push({
      id,
      kind,
      sourceVersion: s?.version ?? null,
      applicationVersion: a?.version ?? null,
    });
  }
  differences.sort((x, y) => (x.id < y.id ? -1 : x.id > y.id ? 1 : 0));
  return { differences, changedDuringVerification };
}
