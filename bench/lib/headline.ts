/**
 * The headline phase: one full backfill through the real path (HTTP enable -> queue -> worker ->
 * streams), with the CPU, Redis commands and memory it cost; and, when asked, the worker's CPU
 * profile over exactly that run.
 */
import { availableParallelism } from 'node:os';
import type { Redis } from 'ioredis';
import type { BenchTarget, Fleet } from './bench-apps';
import { retire } from './bench-apps';
import { cpuDelta, cpuSnapshot, machineCpu } from './cpu';
import { peakRssMb } from './processes';
import { summarizeProfile } from './profile';
import { parseCommandStats } from './redis-stats';
import { runEnd } from './run-end';
import { say } from './say';
import { round } from './stats';

export interface HeadlineRun {
  events: number;
  seconds: number;
  eventsPerSecond: number;
  /** CPU seconds per component during the run (worker, postgres, redis). */
  cpu: Record<string, number>;
  workerPeakRssMb: number;
  redisMemoryGrowthMb: number;
  /** The share of the machine's cores busy during the run (every process, ours or not). */
  machineBusyShare: number;
  /**
   * The most events a second the machine's cores could carry at the run's CPU per event of the
   * worker, Postgres and Redis together: what the run would reach with every core busy.
   */
  cpuBoundEventsPerSecond: number;
  /** The run's window on the clock V8's profiler uses. */
  startedNs: bigint;
  finishedNs: bigint;
}

const usedMemory = async (redis: Redis) =>
  Number((await redis.info('memory')).match(/used_memory:(\d+)/)?.[1]);

/** The Redis commands whose cost per event is printed, in this order. */
const COMMANDS = [
  'exec',
  'xadd',
  'multi',
  'watch',
  'hmget',
  'hset',
  'xinfo|groups',
  'xlen',
  'info',
  'evalsha',
];

export async function headlineRun(t: BenchTarget, fleet: Fleet): Promise<HeadlineRun> {
  const { redis, base, headers, tenantId } = t;
  const worker = fleet.running;
  const memoryBefore = await usedMemory(redis);

  await redis.config('RESETSTAT');
  const cpuBefore = await cpuSnapshot(worker.child.pid, t.ports);
  const machineBefore = await machineCpu();
  const started = performance.now();
  const startedNs = process.hrtime.bigint();
  const enable = await fetch(`${base}/admin/organizations/${tenantId}/applications/crm/toggle`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ isEnabled: true }),
  });
  const { runId } = (await enable.json()) as { runId: string };
  const run = await runEnd<{ status: string; published: number }>(t, runId, worker);
  const seconds = (performance.now() - started) / 1000;
  const finishedNs = process.hrtime.bigint();
  const workerPeakRssMb = await peakRssMb(worker.child.pid);
  const cpu = cpuDelta(cpuBefore, await cpuSnapshot(worker.child.pid, t.ports));
  const machineAfter = await machineCpu();
  const redisCommands = parseCommandStats(await redis.info('commandstats'));
  const memoryAfter = await usedMemory(redis);
  if (run.status !== 'completed') throw new Error(`run ${run.status}: ${worker.output()}`);

  const events = run.published;
  const eventsPerSecond = events / seconds;
  const redisMemoryGrowthMb = (memoryAfter - memoryBefore) / 2 ** 20;
  say(
    `ours     ${events} events in ${round(seconds, 2)} s: ${round(eventsPerSecond)} events/s end to end (HTTP enable -> queue -> worker -> streams)`,
  );
  const perResource = await t.db
    .selectFrom('backfill_run_resources')
    .select(['resource', 'published', 'started_at', 'finished_at'])
    .where('run_id', '=', runId)
    .execute();
  for (const r of perResource) {
    const s =
      r.started_at && r.finished_at
        ? (r.finished_at.getTime() - r.started_at.getTime()) / 1000
        : Number.NaN;
    say(
      `  ${r.resource.padEnd(14)} ${r.published} events in ${round(s, 2)} s: ${round(r.published / s)} events/s`,
    );
  }
  say(
    `CPU seconds during the run (${round(seconds, 1)} s on ${availableParallelism()} cores): ` +
      Object.entries(cpu)
        .map(([k, v]) => `${k} ${round(v, 1)}`)
        .join(', '),
  );
  say(
    `CPU per event: ${Object.entries(cpu)
      .map(([k, v]) => `${k} ${round((v * 1e6) / events, 1)} µs`)
      .join(', ')}; Redis by command: ${COMMANDS.filter((name) => redisCommands[name])
      .map((name) => {
        const stat = redisCommands[name] as { calls: number; usec: number };
        return `${name.toUpperCase()} ${stat.calls} calls ${round(stat.usec / events, 2)} µs/event`;
      })
      .join(', ')} (EXEC's time includes the XADDs it runs)`,
  );
  const machineBusyShare =
    (machineAfter.busySeconds - machineBefore.busySeconds) /
    (machineAfter.totalSeconds - machineBefore.totalSeconds);
  const cpuPerEvent = Object.values(cpu).reduce((sum, v) => sum + v, 0) / events;
  const cpuBoundEventsPerSecond = availableParallelism() / cpuPerEvent;
  say(
    `machine busy ${round(machineBusyShare * 100)}% of its ${availableParallelism()} cores during the run; at the three processes' ` +
      `${round(cpuPerEvent * 1e6, 1)} µs per event, every core busy would carry at most ${round(cpuBoundEventsPerSecond)} events/s`,
  );
  say(
    `worker peak RSS ${round(workerPeakRssMb)} MB; Redis memory growth ${round(redisMemoryGrowthMb)} MB`,
  );
  return {
    events,
    seconds,
    eventsPerSecond,
    cpu,
    workerPeakRssMb,
    redisMemoryGrowthMb,
    machineBusyShare,
    cpuBoundEventsPerSecond,
    startedNs,
    finishedNs,
  };
}

/**
 * The profile is written when the worker exits: it is stopped here so the profile covers the
 * headline run alone (a profiling invocation skips the later phases).
 */
export async function profilePhase(dir: string, run: HeadlineRun, fleet: Fleet): Promise<void> {
  await retire(fleet, fleet.running);
  const profile = await summarizeProfile(dir, { from: run.startedNs, to: run.finishedNs });
  say(
    `worker CPU profile during the run (${round(profile.busyMs / 1000, 2)} s busy), self time by part:`,
  );
  for (const part of profile.parts) say(`  ${part.part.padEnd(32)} ${round(part.share * 100, 1)}%`);
  say('  top functions:');
  for (const fn of profile.functions) say(`    ${round(fn.share * 100, 1)}%  ${fn.name}`);
}
