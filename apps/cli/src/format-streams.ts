/**
 * The human format of `hsync streams`: Redis's memory, each stream with its warning under it, and
 * each consumer group (`--json` prints the API's answer instead).
 */
import { formatBytes } from '@historical-sync/client';
import type { SystemResponse } from '@historical-sync/contracts';
import { shortTime } from './format';
import { formatCount, formatDuration } from './progress';

const ratio = (r: number) => `${Math.round(r * 1000) / 10}%`;
const age = (seconds: number | null) => (seconds === null ? '--' : formatDuration(seconds * 1000));

/** Rows as aligned columns; `right` names the columns of numbers, aligned to their right. */
export function columns(rows: string[][], right: ReadonlySet<number> = new Set()): string[] {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, cell.length);
    });
  }
  return rows.map((row) =>
    row
      .map((cell, i) =>
        right.has(i) ? cell.padStart(widths[i] ?? 0) : cell.padEnd(widths[i] ?? 0),
      )
      .join('  ')
      .trimEnd(),
  );
}

export function formatMemory(redis: SystemResponse['redis']): string[] {
  const used = formatBytes(redis.usedBytes);
  const lines =
    redis.maxBytes > 0
      ? [
          `redis memory: ${used} of ${formatBytes(redis.maxBytes)} (${ratio(redis.usedBytes / redis.maxBytes)})` +
            (redis.backfillWaitsAbove === null
              ? '; backfills never wait for memory'
              : `; backfills wait above ${ratio(redis.backfillWaitsAbove)} (${formatBytes(redis.backfillWaitsAbove * redis.maxBytes)})`),
        ]
      : [
          `redis memory: ${used}, no maxmemory set`,
          '  warning: set maxmemory with room for the streams and maxmemory-policy noeviction;',
          '  without a limit Redis grows until the machine runs out, and backfills never wait',
        ];
  lines.push(
    redis.lastTrim
      ? `streams last trimmed ${shortTime(redis.lastTrim.at)} UTC, ${formatCount(redis.lastTrim.removed)} entries removed`
      : 'streams not trimmed yet (a worker with the sweeper role trims them every few seconds)',
  );
  return lines;
}

export function formatStreams(system: SystemResponse): string[] {
  const lines = [...formatMemory(system.redis), ''];
  if (system.streams.length === 0) lines.push('no streams');
  else {
    const rows = [['STREAM', 'ENTRIES', 'MEMORY', 'OLDEST UNACKED']];
    for (const s of system.streams) {
      rows.push([
        s.stream,
        formatCount(s.length),
        formatBytes(s.memoryBytes),
        age(s.oldestUnackedAgeSeconds),
      ]);
    }
    const [header, ...body] = columns(rows, new Set([1, 2]));
    lines.push(header as string);
    system.streams.forEach((s, i) => {
      lines.push(body[i] as string);
      // Under its stream, where it cannot be missed: it names what to do.
      if (s.warning) lines.push(`  warning: ${s.warning}`);
    });
  }
  lines.push('');
  if (system.consumerGroups.length === 0) lines.push('no consumer groups');
  else {
    const rows = [['STREAM', 'GROUP', 'LAG', 'PENDING', 'IDLE', 'OLDEST UNACKED', '']];
    for (const g of system.consumerGroups) {
      rows.push([
        g.stream,
        g.group,
        g.lag === null ? '?' : formatCount(g.lag),
        formatCount(g.pending),
        g.idleSeconds === null ? 'no consumer' : formatDuration(g.idleSeconds * 1000),
        age(g.oldestUnackedAgeSeconds),
        g.stalled ? 'stalled' : '',
      ]);
    }
    lines.push(...columns(rows, new Set([2, 3])));
  }
  return lines;
}
