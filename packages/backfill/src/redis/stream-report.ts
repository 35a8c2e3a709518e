/**
 * What each stream holds and who still needs it, for planning Redis's memory (the System page,
 * `/metrics`): its length and bytes, the age of its oldest entry some group has not acknowledged,
 * and each group's lag, pending entries and how long its consumers have not read. A group with
 * entries to read whose consumers have not read for `groupStalledMs` is stalled: it pins every
 * entry after its position (retention never trims what a group has not read), so it is reported,
 * never detached by itself; `detachGroup` is the operator's command for a group whose application
 * is gone.
 */

import { NotFoundError } from '@historical-sync/domain';
import type { RedisClient } from '../publish/publisher';
import type { StreamRetention } from '../settings';
import { fieldsOf, streamGroups } from './stream-groups';

export interface GroupReport {
  stream: string;
  group: string;
  /** Entries not yet delivered to the group; null when Redis cannot tell. */
  lag: number | null;
  /** Delivered, not acknowledged. */
  pending: number;
  /** Since any consumer of the group last read; null when it has no consumer. */
  idleSeconds: number | null;
  /** Its oldest entry not acknowledged (pending, or else the first not delivered); null if none. */
  oldestUnackedAgeSeconds: number | null;
  stalled: boolean;
}

export interface StreamReport {
  stream: string;
  length: number;
  /** `MEMORY USAGE` with a few samples: an estimate for long streams. */
  memoryBytes: number;
  /** The oldest entry any group has not acknowledged; null when every group is done. */
  oldestUnackedAgeSeconds: number | null;
  groups: GroupReport[];
  /** Why this stream holds memory no consumer is reading, for a person to act on; null if none. */
  warning: string | null;
}

const msOfId = (id: string) => Number(id.split('-')[0]);
/** A duration as a person reads it: seconds, minutes, hours or days. */
const humanDuration = (ms: number) => {
  const units: [number, string][] = [
    [86_400_000, 'd'],
    [3_600_000, 'h'],
    [60_000, 'min'],
  ];
  for (const [size, unit] of units) {
    if (ms >= size) return `${Math.round((ms / size) * 10) / 10} ${unit}`;
  }
  return `${Math.round(ms / 100) / 10} s`;
};

async function groupReport(
  redis: RedisClient,
  stream: string,
  info: Record<string, unknown>,
  nowMs: number,
  stalledMs: number,
): Promise<GroupReport> {
  const group = String(info.name);
  const pending = Number(info.pending ?? 0);
  const lag = info.lag === null || info.lag === undefined ? null : Number(info.lag);
  let oldestId: string | undefined;
  if (pending > 0) {
    oldestId = ((await redis.xpending(stream, group)) as [number, string])[1];
  } else if (lag === null || lag > 0) {
    const next = await redis.xrange(
      stream,
      `(${String(info['last-delivered-id'])}`,
      '+',
      'COUNT',
      1,
    );
    oldestId = next[0]?.[0];
  }
  const consumers = ((await redis.xinfo('CONSUMERS', stream, group)) as unknown[][]).map(fieldsOf);
  const idleMs = consumers.length ? Math.min(...consumers.map((c) => Number(c.idle ?? 0))) : null;
  const oldestMs = oldestId ? nowMs - msOfId(oldestId) : null;
  return {
    stream,
    group,
    lag,
    pending,
    idleSeconds: idleMs === null ? null : idleMs / 1000,
    oldestUnackedAgeSeconds: oldestMs === null ? null : Math.max(0, oldestMs) / 1000,
    // Work waiting, and nobody has read for the limit (a group that never had a consumer counts
    // from its oldest waiting entry).
    stalled: oldestMs !== null && (idleMs ?? oldestMs) > stalledMs,
  };
}

/** One stream's report; a stream that does not exist reads as empty. */
export async function streamReport(
  redis: RedisClient,
  stream: string,
  retention: Pick<StreamRetention, 'ungroupedWindowMs' | 'groupStalledMs'>,
  nowMs = Date.now(),
): Promise<StreamReport> {
  const [length, memory, groupInfos] = await Promise.all([
    redis.xlen(stream),
    redis.memory('USAGE', stream, 'SAMPLES', 5) as Promise<number | null>,
    (redis.xinfo('GROUPS', stream) as Promise<unknown[][]>).catch(() => [] as unknown[][]),
  ]);
  const groups = await Promise.all(
    groupInfos.map((flat) =>
      groupReport(redis, stream, fieldsOf(flat), nowMs, retention.groupStalledMs),
    ),
  );
  let oldestUnacked: number | null = null;
  for (const g of groups) {
    if (g.oldestUnackedAgeSeconds !== null)
      oldestUnacked = Math.max(oldestUnacked ?? 0, g.oldestUnackedAgeSeconds);
  }
  let warning: string | null = null;
  if (length > 0 && groups.length === 0) {
    warning = `no consumer group reads this stream: its entries are kept ${humanDuration(retention.ungroupedWindowMs)} (STREAM_RETENTION_UNGROUPED_MS), then trimmed unread`;
  }
  const stalled = groups.filter((g) => g.stalled);
  if (stalled.length) {
    const names = stalled.map((g) => g.group);
    const group = names.length === 1 ? names[0] : '<group>';
    warning = `${names.join(', ')} ${names.length === 1 ? 'has' : 'have'} not read for over ${humanDuration(retention.groupStalledMs)} and ${names.length === 1 ? 'holds its' : 'hold their'} unread entries in Redis; if the application is gone, detach it (hsync streams detach ${stream} ${group} --yes)`;
  }
  return {
    stream,
    length,
    memoryBytes: Number(memory ?? 0),
    oldestUnackedAgeSeconds: oldestUnacked,
    groups,
    warning,
  };
}

/**
 * Removes a consumer group (the operator's command for a group whose application is gone): its
 * unread entries are then trimmed like any acknowledged ones. Only groups of the system's own
 * streams; 404 for another stream or a group the stream does not have.
 */
export async function detachGroup(
  redis: RedisClient,
  systemStreams: readonly string[],
  stream: string,
  group: string,
): Promise<{ pending: number; lag: number | null }> {
  if (!systemStreams.includes(stream)) {
    throw new NotFoundError(`stream ${stream} is not one of the system's streams`, 'stream');
  }
  const info = (await streamGroups(redis, stream)).find((g) => g.name === group);
  if (!info) throw new NotFoundError(`stream ${stream} has no consumer group ${group}`, 'group');
  await redis.xgroup('DESTROY', stream, group);
  return { pending: info.pending, lag: info.lag };
}
