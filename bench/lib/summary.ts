/**
 * The backfill bench's closing lines: the headline run against its two references, the command
 * that reproduces the invocation, and last one JSON object with the figures (absent phases leave
 * their keys out, so a skipped phase is never read as a zero).
 */
import type { ApiLoadFigures, ProtectionFigures } from './api-under-load';
import type { HeadlineRun } from './headline';
import type { ReplicaPhaseResult } from './replica-phase';
import { say } from './say';
import { round } from './stats';

export interface BenchFigures {
  ours: HeadlineRun;
  naive: { eventsPerSecond: number; estimatedSeconds: number };
  roof: { eventsPerSecond: number; redisCpuUsPerEvent: number };
  load?: ApiLoadFigures;
  guarded?: ProtectionFigures;
  fromReplica?: ReplicaPhaseResult;
}

export function report(f: BenchFigures, command: string): void {
  const { ours, naive, roof, load, guarded, fromReplica } = f;
  const { events, cpu } = ours;
  const ratioToNaive = ours.eventsPerSecond / naive.eventsPerSecond;
  const ratioToCeiling = ours.eventsPerSecond / roof.eventsPerSecond;
  say(
    `ours / naive = ${round(ratioToNaive, 1)}x; ours / ceiling = ${round(ratioToCeiling, 2)}x; naive at this size would take ${round(naive.estimatedSeconds / 60, 1)} min`,
  );
  say(`command: ${command}`);
  say(
    JSON.stringify({
      rows: events,
      eventsPerSecond: round(ours.eventsPerSecond),
      naiveEventsPerSecond: round(naive.eventsPerSecond),
      ceilingEventsPerSecond: round(roof.eventsPerSecond),
      ratioToNaive: round(ratioToNaive, 1),
      ratioToCeiling: round(ratioToCeiling, 2),
      redisCpuUsPerEvent: round(((cpu.redis ?? 0) * 1e6) / events, 2),
      ceilingRedisCpuUsPerEvent: round(roof.redisCpuUsPerEvent, 2),
      workerCpuUsPerEvent: round(((cpu.worker ?? 0) * 1e6) / events, 2),
      postgresCpuUsPerEvent: round(((cpu.postgres ?? 0) * 1e6) / events, 2),
      workerPeakRssMb: round(ours.workerPeakRssMb),
      redisMemoryGrowthMb: round(ours.redisMemoryGrowthMb),
      machineBusyShare: round(ours.machineBusyShare, 2),
      cpuBoundEventsPerSecond: round(ours.cpuBoundEventsPerSecond),
      cpuBoundRatioToCeiling: round(ours.cpuBoundEventsPerSecond / roof.eventsPerSecond, 2),
      ...(load
        ? {
            toggleIdleP99Ms: round(load.toggleIdle.p99, 1),
            toggleP50Ms: round(load.unthrottled.toggle.p50, 1),
            toggleP99Ms: round(load.unthrottled.toggle.p99, 1),
            statusP99Ms: round(load.unthrottled.status.p99, 1),
            // The API's own share (its /metrics histogram: a bucket's bound).
            toggleIdleServerP99Ms: load.toggleIdleServerP99Ms,
            toggleServerP99Ms: load.unthrottled.toggleServerP99Ms,
          }
        : {}),
      ...(load?.throttled
        ? { toggleP99MsCappedBackfill: round(load.throttled.toggle.p99, 1) }
        : {}),
      ...(load
        ? { fullSpeedBackfillEventsPerSecond: round(load.unthrottled.eventsPerSecond) }
        : {}),
      ...(load && guarded
        ? {
            toggleP99MsProtectedBackfill: round(guarded.protectedRun.toggle.p99, 1),
            protectedToggleServerP99Ms: guarded.protectedRun.toggleServerP99Ms,
            protectedToggleP99ToIdle: round(
              guarded.protectedRun.toggle.p99 / load.toggleIdle.p99,
              2,
            ),
            protectedBackfillEventsPerSecond: round(guarded.protectedRun.eventsPerSecond),
            protectedRateToUnprotected: round(
              guarded.protectedRun.eventsPerSecond / load.unthrottled.eventsPerSecond,
              2,
            ),
            protectedThrottledSeconds: round(guarded.throttledSeconds, 1),
            protectedToggleP99TargetMs: round(2 * load.toggleIdle.p99 + 10, 1),
            protectedThrottledBySignal: Object.fromEntries(
              Object.entries(guarded.protectedRun.signals.throttledSeconds).map(([k, v]) => [
                k,
                round(v, 2),
              ]),
            ),
            aloneBackfillEventsPerSecond: round(load.alone.eventsPerSecond),
            protectedAloneEventsPerSecond: round(guarded.protectedAlone.eventsPerSecond),
            protectedAloneRateToUnprotected: round(
              guarded.protectedAlone.eventsPerSecond / load.alone.eventsPerSecond,
              2,
            ),
          }
        : {}),
      ...(fromReplica
        ? {
            replicaEventsPerSecond: round(fromReplica.events / fromReplica.seconds),
            replicaMaxLagMs: round(fromReplica.maxLagMs),
            replicaLagLimitMs: fromReplica.lagLimitMs,
            replicaPrimaryPostgresCpuUsPerEvent: round(
              (fromReplica.cpu.primary * 1e6) / fromReplica.events,
              2,
            ),
            replicaPostgresCpuUsPerEvent: round(
              (fromReplica.cpu.replica * 1e6) / fromReplica.events,
              2,
            ),
          }
        : {}),
    }),
  );
}
