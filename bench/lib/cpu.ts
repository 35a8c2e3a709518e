/**
 * CPU seconds used per component (worker, Postgres, Redis) from /proc, so a run reports where
 * its time went: the profile that says what limits throughput on this machine. Linux only.
 * Counted per process, so a process that ends during the run takes nothing away.
 */
import { readdir, readFile } from 'node:fs/promises';

const TICKS_PER_SECOND = 100;

export type CpuSnapshot = Map<number, { component: string; seconds: number }>;

export async function cpuSnapshot(workerPid: number | undefined): Promise<CpuSnapshot> {
  const snapshot: CpuSnapshot = new Map();
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => undefined);
    if (!stat) continue;
    const pid = Number(entry);
    const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    const component =
      pid === workerPid
        ? 'worker'
        : comm === 'postgres'
          ? 'postgres'
          : comm.startsWith('redis-server')
            ? 'redis'
            : undefined;
    if (!component) continue;
    // utime and stime: fields 14 and 15 of stat, 11 and 12 after the command name.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    snapshot.set(pid, {
      component,
      seconds: (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND,
    });
  }
  return snapshot;
}

/** CPU seconds per component between two snapshots (processes started meanwhile count from 0). */
export function cpuDelta(before: CpuSnapshot, after: CpuSnapshot): Record<string, number> {
  const totals: Record<string, number> = { worker: 0, postgres: 0, redis: 0 };
  for (const [pid, { component, seconds }] of after) {
    totals[component] = (totals[component] ?? 0) + seconds - (before.get(pid)?.seconds ?? 0);
  }
  return totals;
}
