/**
 * CPU seconds used per component (worker, Postgres, Redis) from /proc, so a run reports where
 * its time went: the profile that says what limits throughput on this machine. Linux only.
 * Counted per process, so a process that ends during the run takes nothing away.
 */
import { readdir, readFile } from 'node:fs/promises';

const TICKS_PER_SECOND = 100;

export type CpuSnapshot = Map<number, { component: string; seconds: number }>;

/** Which servers count: those on these ports (the benchmark's own), or every one when unset. */
export interface ServerPorts {
  postgres?: number;
  redis?: number;
}

/** The ports of the benchmark's own Postgres and Redis, from their URLs. */
export function serverPorts(databaseUrl: string, redisUrl: string): ServerPorts {
  return {
    postgres: Number(new URL(databaseUrl).port) || 5432,
    redis: Number(new URL(redisUrl).port) || 6379,
  };
}

export async function cpuSnapshot(
  /** The worker process, or several whose CPU is summed as `worker`. */
  workerPid: number | undefined | ReadonlyArray<number | undefined>,
  ports: ServerPorts = {},
): Promise<CpuSnapshot> {
  const workerPids = new Set(Array.isArray(workerPid) ? workerPid : [workerPid]);
  const processes: Array<{
    pid: number;
    ppid: number;
    comm: string;
    cmdline: string;
    seconds: number;
  }> = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => undefined);
    if (!stat) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    // Fields after the command name: state, ppid, ..., utime (12th) and stime (13th).
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    processes.push({
      pid: Number(entry),
      ppid: Number(fields[1]),
      comm: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')),
      cmdline: cmdline.replaceAll('\0', ' '),
      seconds: (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND,
    });
  }
  // Other Postgres servers on the machine (tests, other environments) must not count: ours is
  // the postmaster listening on our port, and its children.
  const postmasters = new Set(
    processes
      .filter(
        (p) =>
          p.comm === 'postgres' && ports.postgres && p.cmdline.includes(`-p ${ports.postgres}`),
      )
      .map((p) => p.pid),
  );
  const snapshot: CpuSnapshot = new Map();
  for (const p of processes) {
    const component = workerPids.has(p.pid)
      ? 'worker'
      : p.comm === 'postgres' &&
          (!ports.postgres || postmasters.has(p.pid) || postmasters.has(p.ppid))
        ? 'postgres'
        : p.comm.startsWith('redis-server') &&
            (!ports.redis || p.cmdline.includes(`:${ports.redis}`))
          ? 'redis'
          : undefined;
    if (component) snapshot.set(p.pid, { component, seconds: p.seconds });
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

/** The whole machine's CPU time so far (every process, ours or not), from /proc/stat. */
export async function machineCpu(): Promise<{ busySeconds: number; totalSeconds: number }> {
  const line = (await readFile('/proc/stat', 'utf8')).split('\n')[0] ?? '';
  // cpu user nice system idle iowait irq softirq steal ...: idle and iowait are not busy.
  const ticks = line.trim().split(/\s+/).slice(1, 9).map(Number);
  const total = ticks.reduce((sum, t) => sum + t, 0);
  const idle = (ticks[3] ?? 0) + (ticks[4] ?? 0);
  return { busySeconds: (total - idle) / TICKS_PER_SECOND, totalSeconds: total / TICKS_PER_SECOND };
}

/** CPU seconds one process has used so far (0 once it is gone). */
export async function processCpuSeconds(pid: number | undefined): Promise<number> {
  const stat = pid ? await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '') : '';
  if (!stat) return 0;
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}
