/**
 * What else happens on the machine while the API stalls: sampled every 100 ms during a load
 * phase, then lined up with the requests slower than 50 ms. Candidates sampled: the machine's
 * run queue (`procs_running`, every process, the benchmark's or not), Postgres checkpoints and
 * the buffers written by backends (`pg_stat_bgwriter`), autovacuum workers, backends waiting on
 * a lock or on IO, and Redis persistence (an RDB save or AOF rewrite in progress).
 */
import { readFile } from 'node:fs/promises';
import type { Db } from '@historical-sync/db';
import type { Redis } from 'ioredis';
import { sql } from 'kysely';

interface Sample {
  at: number;
  runQueue: number;
  checkpoints: number;
  buffersCheckpoint: number;
  buffersBackend: number;
  autovacuum: number;
  lockWaits: number;
  ioWaits: number;
  redisPersisting: boolean;
}

async function sample(db: Db, redis: Redis): Promise<Sample> {
  const at = Date.now();
  const [stat, pg, persistence] = await Promise.all([
    readFile('/proc/stat', 'utf8'),
    sql<{
      checkpoints: number;
      buffers_checkpoint: number;
      buffers_backend: number;
      autovacuum: number;
      lock_waits: number;
      io_waits: number;
    }>`
      SELECT (checkpoints_timed + checkpoints_req)::int AS checkpoints,
        buffers_checkpoint::int, buffers_backend::int,
        (SELECT count(*)::int FROM pg_stat_activity WHERE backend_type = 'autovacuum worker') AS autovacuum,
        (SELECT count(*)::int FROM pg_stat_activity WHERE wait_event_type = 'Lock') AS lock_waits,
        (SELECT count(*)::int FROM pg_stat_activity WHERE wait_event_type = 'IO') AS io_waits
      FROM pg_stat_bgwriter`.execute(db),
    redis.info('persistence'),
  ]);
  const row = pg.rows[0];
  return {
    at,
    runQueue: Number(stat.match(/^procs_running (\d+)/m)?.[1] ?? Number.NaN),
    checkpoints: row?.checkpoints ?? 0,
    buffersCheckpoint: row?.buffers_checkpoint ?? 0,
    buffersBackend: row?.buffers_backend ?? 0,
    autovacuum: row?.autovacuum ?? 0,
    lockWaits: row?.lock_waits ?? 0,
    ioWaits: row?.io_waits ?? 0,
    redisPersisting: /(rdb_bgsave_in_progress|aof_rewrite_in_progress):1/.test(persistence),
  };
}

export function startStallProbe(db: Db, redis: Redis, intervalMs = 100) {
  const samples: Sample[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      samples.push(await sample(db, redis));
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  })();
  return {
    async stop(): Promise<Sample[]> {
      running = false;
      await loop;
      return samples;
    },
  };
}

/**
 * Groups the slow requests into stalls (due within 100 ms of each other) and compares the samples
 * during stalls (from 300 ms before one starts to its end) with the others.
 */
export function explainStalls(slow: Array<[number, number]>, samples: Sample[]): string {
  const stalls: Array<{ from: number; to: number; worst: number; requests: number }> = [];
  for (const [at, ms] of slow) {
    const last = stalls.at(-1);
    if (last && at - last.to <= 100) {
      last.to = at;
      last.worst = Math.max(last.worst, ms);
      last.requests += 1;
    } else stalls.push({ from: at, to: at, worst: ms, requests: 1 });
  }
  const during = (s: Sample) => stalls.some((x) => s.at >= x.from - 300 && s.at <= x.to + 100);
  const inStall = samples.filter(during);
  const outside = samples.filter((s) => !during(s));
  const mean = (xs: Sample[], f: (s: Sample) => number) =>
    xs.length ? xs.reduce((sum, s) => sum + f(s), 0) / xs.length : Number.NaN;
  const first = samples[0];
  const last = samples.at(-1);
  // Checkpoint activity in a stall: the counters moved between the samples around it.
  const moved = (f: (s: Sample) => number) =>
    stalls.filter((x) => {
      const before = samples.filter((s) => s.at <= x.from - 300).at(-1) ?? first;
      const after = samples.find((s) => s.at >= x.to + 100) ?? last;
      return before && after && f(after) > f(before);
    }).length;
  const fmt = (n: number) => (Number.isNaN(n) ? '-' : n.toFixed(1));
  // Most requests slow: the API did not keep up with the rate at all, one stall from end to end.
  const saturated = stalls.length === 1 && (stalls[0]?.requests ?? 0) > 100;
  return [
    ...(saturated ? ['SATURATED (the API never caught up: no stall to line up)'] : []),
    `${stalls.length} stalls (${slow.length} requests over 50 ms, worst ${Math.round(Math.max(0, ...slow.map((x) => x[1])))} ms)`,
    `machine run queue mean ${fmt(mean(inStall, (s) => s.runQueue))} around stalls vs ${fmt(mean(outside, (s) => s.runQueue))} otherwise (${samples.length} samples, 2 cores)`,
    `checkpoints in the phase ${last && first ? last.checkpoints - first.checkpoints : 0}, stalls with checkpoint writes ${moved((s) => s.buffersCheckpoint)}, with backend writes ${moved((s) => s.buffersBackend)}`,
    `autovacuum workers mean ${fmt(mean(inStall, (s) => s.autovacuum))} around stalls vs ${fmt(mean(outside, (s) => s.autovacuum))}; lock waits ${fmt(mean(inStall, (s) => s.lockWaits))} vs ${fmt(mean(outside, (s) => s.lockWaits))}; IO waits ${fmt(mean(inStall, (s) => s.ioWaits))} vs ${fmt(mean(outside, (s) => s.ioWaits))}`,
    `Redis persisting (RDB/AOF) in ${samples.filter((s) => s.redisPersisting).length} samples`,
  ].join('; ');
}
