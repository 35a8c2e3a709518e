/**
 * CPU seconds used per component (worker, Postgres, Redis) from /proc, so a run reports where
 * its time went: the profile that says what limits throughput on this machine. Linux only.
 */
import { readdir, readFile } from 'node:fs/promises';

const TICKS_PER_SECOND = 100;

async function processCpu(pid: string): Promise<{ comm: string; seconds: number } | undefined> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  if (!stat) return undefined;
  const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 14 and 15 of stat (utime, stime) are 11 and 12 after the comm.
  return { comm, seconds: (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND };
}

export async function cpuByComponent(
  workerPid: number | undefined,
): Promise<Record<string, number>> {
  const totals: Record<string, number> = { worker: 0, postgres: 0, redis: 0 };
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    const cpu = await processCpu(pid);
    if (!cpu) continue;
    if (Number(pid) === workerPid) totals.worker = (totals.worker ?? 0) + cpu.seconds;
    else if (cpu.comm === 'postgres') totals.postgres = (totals.postgres ?? 0) + cpu.seconds;
    else if (cpu.comm.startsWith('redis-server')) totals.redis = (totals.redis ?? 0) + cpu.seconds;
  }
  return totals;
}

export function cpuDelta(before: Record<string, number>, after: Record<string, number>) {
  return Object.fromEntries(Object.keys(after).map((k) => [k, (after[k] ?? 0) - (before[k] ?? 0)]));
}
