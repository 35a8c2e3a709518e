/**
 * `npm run bench -- [--memberships 1000000] [--orgs 100000] [--credits 100000] [--page-size 1000]
 *                   [--partitions 1] [--naive-sample 20000] [--ceiling-sample 200000] [--api-load-seconds 10]
 *                   [--replica 1]`
 *
 * A full backfill through the real path (HTTP enable -> queue -> worker process -> Redis Streams)
 * on a seeded tenant, with two references measured in the same invocation on the same data:
 *   naive    the spec's method: OFFSET pages, one awaited XADD per event (on a sample);
 *   ceiling  the same events prebuilt as XADD commands and sent with `redis-cli --pipe`.
 * While a backfill runs, the toggle and status endpoints get a steady (open-loop) request load.
 * Last, the same full backfill with its pages read from a streaming replica (`--replica 0` skips
 * it): the primary's Postgres CPU per event then, against the headline run's.
 * The last line printed is one JSON object with the headline figures.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { seedTenant } from '@historical-sync/db';
import { createTestDatabase } from '@historical-sync/db/testing';
import { findFreePort, localStateDir, startLocalServices } from '@historical-sync/local-stack';
import { Redis } from 'ioredis';
import { z } from 'zod';
import { ceiling } from './lib/ceiling';
import { cpuDelta, cpuSnapshot, serverPorts } from './lib/cpu';
import { flowControlPhase } from './lib/flow';
import { naiveBackfill } from './lib/naive';
import { type PacedLoadResult, pacedLoadInChild as pacedLoad } from './lib/paced-load';
import { type AppProcess, peakRssMb, startApp, waitForOk } from './lib/processes';
import { summarizeProfile } from './lib/profile';
import { parseCommandStats } from './lib/redis-stats';
import { type ReplicaPhaseResult, replicaPhase } from './lib/replica-phase';
import { describeSignals, startSignalSampler } from './lib/signals';
import { explainStalls, startStallProbe } from './lib/stall-probe';
import { round } from './lib/stats';

const count = (fallback: number) => z.coerce.number().int().min(0).default(fallback);
const Args = z.object({
  memberships: count(1_000_000),
  orgs: count(100_000),
  credits: count(100_000),
  'page-size': count(1000),
  partitions: count(1),
  'naive-sample': count(20_000),
  'ceiling-sample': count(200_000),
  'api-load-seconds': count(10),
  /** The API is measured again during a backfill capped at this rate (0 = skip). */
  'api-load-backfill-rate': count(30_000),
  /** Flow control phase: the backlog bound, and how fast the slow consumer acknowledges. */
  'flow-bound': count(50_000),
  'slow-consumer-rate': count(20_000),
  'flow-seconds': count(10),
  /** 1: measure a full backfill read from a streaming replica (docs/REPLICA.md); 0: skip it. */
  replica: count(1),
  /** Write the worker's CPU profile (.cpuprofile) to this folder. */
  'profile-dir': z.string().optional(),
});

const say = (line: string) => process.stdout.write(`${line}\n`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const ADMIN_KEY = 'bench-admin-key';

async function main() {
  const { values } = parseArgs({
    options: Object.fromEntries(Object.keys(Args.shape).map((k) => [k, { type: 'string' }])),
  });
  const args = Args.parse(values);
  const command = `npm run bench -- ${Object.entries(args)
    .map(([k, v]) => `--${k} ${v}`)
    .join(' ')}`;
  const work = await mkdtemp(join(tmpdir(), 'hs-bench-'));
  const services = await startLocalServices({
    stateDir: localStateDir(`bench-${process.pid}`),
    databaseUrl: process.env.DATABASE_URL,
    redisUrl: process.env.REDIS_URL,
    ephemeral: true,
  });
  process.env.DATABASE_URL = services.databaseUrl;
  const database = await createTestDatabase('bench');
  const redis = new Redis(services.redisUrl);
  const prefix = `bench${process.pid}`;
  const apps: ReturnType<typeof startApp>[] = [];
  let stopping = false;
  // Ctrl-C still stops every process and server this benchmark started.
  const onSignal = () => {
    stopping = true;
    void Promise.all(apps.map((app) => app.stop()))
      .then(() => services.stop())
      .finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    say(
      `seeding ${args.memberships} memberships, ${args.orgs} organizations, ${args.credits} credit allocations...`,
    );
    const seedStarted = performance.now();
    const { tenantId } = await seedTenant(database.db, {
      tenantName: 'bench',
      organizations: args.orgs,
      memberships: args.memberships,
      creditAllocations: args.credits,
      app: 'crm',
      seed: 1,
    });
    const { tenantId: otherTenant } = await seedTenant(database.db, {
      tenantName: 'bench-other',
      organizations: 1,
      memberships: 1,
      creditAllocations: 0,
      app: 'crm',
      seed: 2,
    });
    say(`seeded in ${round((performance.now() - seedStarted) / 1000, 1)} s`);

    const naive = await naiveBackfill(
      database.db,
      redis,
      tenantId,
      args.memberships,
      Math.min(args['naive-sample'], args.memberships),
      `${prefix}-naive:`,
    );
    say(
      `naive    ${naive.events} events sampled in 10 slices across the table, ${round(naive.seconds, 2)} s: ` +
        `${round(naive.eventsPerSecond)} events/s at equal size (OFFSET pages of 100, one awaited XADD per event)`,
    );
    const ports = serverPorts(database.url, services.redisUrl);
    const roof = await ceiling(
      database.db,
      redis,
      services.redisUrl,
      tenantId,
      Math.min(args['ceiling-sample'], args.memberships),
      work,
      `${prefix}-ceiling:`,
      ports,
    );
    const ceilingRedisUsPerEvent = roof.redisCpuUsPerEvent;
    say(
      `ceiling  Redis CPU ${round(ceilingRedisUsPerEvent, 2)} µs per event while it ingests them`,
    );
    say(
      `ceiling  ${roof.events} events in ${round(roof.seconds, 2)} s: ${round(roof.eventsPerSecond)} events/s (redis-cli --pipe of prebuilt XADDs)`,
    );

    const port = await findFreePort();
    const env = {
      ...process.env,
      DATABASE_URL: database.url,
      REDIS_URL: services.redisUrl,
      QUEUE_PREFIX: prefix,
      STREAM_PREFIX: `${prefix}:`,
      BACKFILL_PAGE_SIZE: String(args['page-size']),
      BACKFILL_PARTITIONS: String(args.partitions),
      PORT: String(port),
      ADMIN_API_KEY: ADMIN_KEY,
      LOG_LEVEL: 'warn',
      // The limiter stays in the request path (its cost is measured) but never refuses.
      RATE_LIMIT_PER_MINUTE: '100000000',
    };
    const api = startApp('api', env);
    const worker = startApp(
      'worker',
      {
        ...env,
        WORKER_ROLES: 'runs,credits,organizations,memberships',
        BACKFILL_MAX_STREAM_BACKLOG: String(args['flow-bound']),
        // The headline, full-speed and capped figures are the backfill unprotected; the last
        // phase measures the default settings (source protection on) in a worker of its own.
        BACKFILL_SOURCE_PROTECTION: 'off',
      },
      args['profile-dir'] ? ['--cpu-prof', `--cpu-prof-dir=${args['profile-dir']}`] : [],
    );
    const stopped = new Set<AppProcess>();
    /** The backfill worker serving the queues now (a later phase replaces it with its own). */
    let running: AppProcess = worker;
    for (const app of [api, worker]) {
      app.child.once('exit', (code) => {
        if (!stopping && !stopped.has(app))
          process.stderr.write(`error: an app exited early (${code}):\n${app.output()}\n`);
      });
    }
    apps.push(api, worker);
    const base = `http://127.0.0.1:${port}`;
    const headers = { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' };
    await waitForOk(`${base}/health`, () => api.output());
    await sleep(1_000); // the worker connects
    const memoryBefore = Number((await redis.info('memory')).match(/used_memory:(\d+)/)?.[1]);

    await redis.config('RESETSTAT');
    const cpuBefore = await cpuSnapshot(worker.child.pid, ports);
    const started = performance.now();
    const startedNs = process.hrtime.bigint();
    const enable = await fetch(`${base}/admin/organizations/${tenantId}/applications/crm/toggle`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ isEnabled: true }),
    });
    const { runId } = (await enable.json()) as { runId: string };
    let run:
      | {
          status: string;
          published: number;
          total: number;
          resources: Record<string, { published: number }>;
        }
      | undefined;
    for (;;) {
      run = (await (
        await fetch(`${base}/admin/organizations/${tenantId}/sync-runs/${runId}`, { headers })
      ).json()) as typeof run;
      if (run?.status === 'completed' || run?.status === 'failed') break;
      if (worker.child.exitCode !== null) throw new Error(`the worker exited: ${worker.output()}`);
      await sleep(50);
    }
    const seconds = (performance.now() - started) / 1000;
    const finishedNs = process.hrtime.bigint();
    const workerPeakRssMb = await peakRssMb(worker.child.pid);
    const cpu = cpuDelta(cpuBefore, await cpuSnapshot(worker.child.pid, ports));
    const redisCommands = parseCommandStats(await redis.info('commandstats'));
    const memoryAfter = Number((await redis.info('memory')).match(/used_memory:(\d+)/)?.[1]);
    if (run?.status !== 'completed') throw new Error(`run ${run?.status}: ${worker.output()}`);

    const events = run.published;
    const eventsPerSecond = events / seconds;
    say(
      `ours     ${events} events in ${round(seconds, 2)} s: ${round(eventsPerSecond)} events/s end to end (HTTP enable -> queue -> worker -> streams)`,
    );
    const perResource = await database.db
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
      `CPU seconds during the run (${round(seconds, 1)} s on ${(await import('node:os')).availableParallelism()} cores): ` +
        Object.entries(cpu)
          .map(([k, v]) => `${k} ${round(v, 1)}`)
          .join(', '),
    );
    say(
      `CPU per event: ${Object.entries(cpu)
        .map(([k, v]) => `${k} ${round((v * 1e6) / run.published, 1)} µs`)
        .join(', ')}; Redis by command: ${[
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
      ]
        .filter((name) => redisCommands[name])
        .map((name) => {
          const stat = redisCommands[name] as { calls: number; usec: number };
          return `${name.toUpperCase()} ${stat.calls} calls ${round(stat.usec / run.published, 2)} µs/event`;
        })
        .join(', ')} (EXEC's time includes the XADDs it runs)`,
    );
    say(
      `worker peak RSS ${round(workerPeakRssMb)} MB; Redis memory growth ${round((memoryAfter - memoryBefore) / 2 ** 20)} MB`,
    );
    if (args['profile-dir']) {
      // The profile is written when the worker exits: stop it now so the profile covers this run
      // alone (the later phases are skipped in a profiling invocation).
      stopped.add(worker);
      await worker.stop();
      const profile = await summarizeProfile(args['profile-dir'], {
        from: startedNs,
        to: finishedNs,
      });
      say(
        `worker CPU profile during the run (${round(profile.busyMs / 1000, 2)} s busy), self time by part:`,
      );
      for (const part of profile.parts)
        say(`  ${part.part.padEnd(32)} ${round(part.share * 100, 1)}%`);
      say('  top functions:');
      for (const fn of profile.functions) say(`    ${round(fn.share * 100, 1)}%  ${fn.name}`);
      args['api-load-seconds'] = 0;
      args['flow-seconds'] = 0;
      args.replica = 0;
    }
    // API under load while a backfill runs: a second run (memberships again), measured apart
    // from the headline figure so the load generator does not slow the run it measures.
    const toggleAt500 = (seconds: number) =>
      pacedLoad({
        url: `${base}/admin/organizations/${otherTenant}/applications/crm/toggle`,
        method: 'POST',
        headers,
        body: JSON.stringify({ isEnabled: true }),
        rate: 500,
        seconds,
      });
    type RunView = {
      status: string;
      published: number;
      startedAt: string | null;
      finishedAt: string | null;
      resources: Record<string, { status: string; throttled?: string | null }>;
    };
    const runUrl = (id: string) => `${base}/admin/organizations/${tenantId}/sync-runs/${id}`;
    const view = async (id: string) =>
      (await (await fetch(runUrl(id), { headers })).json()) as RunView;
    /**
     * A memberships backfill kept running for the phase's length (capped at `rate` if given): a run
     * that completes before the phase ends is followed by another, so the phase's figures are
     * taken beside a backfill from its start to its end. With `load`, the toggle and status load
     * of the API runs meanwhile. The rate is every run's events over the phase's time.
     */
    const underBackfill = async (rate: number | undefined, load = true) => {
      // Drop the earlier runs' streams (memory), never the queues' keys: jobs may still be live.
      const streams = [
        ...(await redis.keys(`${prefix}:crm:*`)),
        ...(await redis.keys(`${prefix}:credit-events`)),
      ];
      if (streams.length) await redis.unlink(...streams);
      const runIds: string[] = [];
      const startRun = async () => {
        const started = await fetch(
          `${base}/admin/organizations/${tenantId}/applications/crm/sync-historical`,
          {
            method: 'POST',
            headers,
            body: JSON.stringify({
              syncCredits: false,
              syncOrganizations: false,
              ...(rate ? { maxEventsPerSecond: rate } : {}),
            }),
          },
        );
        const { runId } = (await started.json()) as { runId: string };
        runIds.push(runId);
      };
      const phaseStarted = performance.now();
      await startRun();
      let loading = true;
      const keepRunning = (async () => {
        while (loading) {
          const id = runIds.at(-1) as string;
          if ((await view(id)).status === 'completed') await startRun();
          else await sleep(50);
        }
      })();
      const probe = startStallProbe(database.db, redis);
      const signals = startSignalSampler(database.db, redis, prefix, () => runIds.slice(-1));
      const idle: PacedLoadResult = {
        sent: 0,
        achievedRate: 0,
        non2xx: 0,
        errors: 0,
        p50: 0,
        p99: 0,
        max: 0,
        slow: [],
      };
      const [toggle, status]: [PacedLoadResult, PacedLoadResult] = load
        ? await Promise.all([
            toggleAt500(args['api-load-seconds']),
            pacedLoad({
              url: `${base}/admin/organizations/${otherTenant}/applications/crm/sync-status`,
              headers,
              rate: 50,
              seconds: args['api-load-seconds'],
            }),
          ])
        : await sleep(args['api-load-seconds'] * 1000).then(() => [idle, idle]);
      loading = false;
      const phaseMs = performance.now() - phaseStarted;
      await keepRunning;
      const signalSummary = await signals.stop();
      const stalls = explainStalls(toggle.slow, await probe.stop());
      const last = runIds.at(-1) as string;
      const lastView = await view(last);
      const views = await Promise.all(runIds.map(view));
      const published = views.reduce((sum, v) => sum + v.published, 0);
      await fetch(`${runUrl(last)}/cancel`, { method: 'POST', headers });
      // The next phase starts once this run's jobs have stopped publishing.
      for (let i = 0; i < 300; i++) {
        const v = await view(last);
        if (Object.values(v.resources).every((r) => r.status !== 'running')) break;
        await sleep(100);
      }
      return {
        toggle,
        status,
        runs: runIds.length,
        eventsPerSecond: published / (phaseMs / 1000),
        throttledAtEnd: lastView.resources.memberships?.throttled ?? null,
        signals: signalSummary,
        stalls,
      };
    };
    const describeLoad = (load: PacedLoadResult) =>
      `${round(load.achievedRate)} req/s p50 ${round(load.p50, 1)} ms p99 ${round(load.p99, 1)} ms max ${round(load.max)} ms (${load.non2xx + load.errors} failed)`;
    const describeUnder = (label: string, load: Awaited<ReturnType<typeof underBackfill>>) =>
      say(
        `API ${label} (${load.runs} run${load.runs > 1 ? 's, one after the other' : ''}): ` +
          `toggle at 500/s ${describeLoad(load.toggle)}; sync-status at 50/s ${describeLoad(load.status)}; ` +
          `backfill ${round(load.eventsPerSecond)} events/s\n  toggle stalls: ${load.stalls}\n  signals: ${describeSignals(load.signals)}`,
      );
    const describeAlone = (label: string, load: Awaited<ReturnType<typeof underBackfill>>) =>
      say(
        `backfill ${label}, no API load (${load.runs} runs): ${round(load.eventsPerSecond)} events/s\n  signals: ${describeSignals(load.signals)}`,
      );
    let toggleIdle: PacedLoadResult | undefined;
    let unthrottled: Awaited<ReturnType<typeof underBackfill>> | undefined;
    let throttled: typeof unthrottled;
    /** Full speed with no API load: what the default settings must keep (>= 90%) there. */
    let alone: typeof unthrottled;
    if (args['api-load-seconds']) {
      // Warm-up on the measured route (JIT, connection pools), then the baseline: the same load
      // with no backfill running.
      await toggleAt500(2);
      const probe = startStallProbe(database.db, redis);
      const signals = startSignalSampler(database.db, redis, prefix, () => []);
      toggleIdle = await toggleAt500(Math.min(5, args['api-load-seconds']));
      const stalls = explainStalls(toggleIdle.slow, await probe.stop());
      say(
        `API baseline, no backfill running: toggle at 500/s ${describeLoad(toggleIdle)}\n  toggle stalls: ${stalls}\n  signals: ${describeSignals(await signals.stop())}`,
      );
      alone = await underBackfill(undefined, false);
      describeAlone('at full speed', alone);
      unthrottled = await underBackfill(undefined);
      describeUnder('during a backfill at full speed', unthrottled);
      if (args['api-load-backfill-rate']) {
        throttled = await underBackfill(args['api-load-backfill-rate']);
        describeUnder(
          `during a backfill capped at ${args['api-load-backfill-rate']} events/s`,
          throttled,
        );
      }
    }
    const flow = args['flow-seconds']
      ? await flowControlPhase({
          redis,
          base,
          headers,
          tenantId,
          prefix,
          bound: args['flow-bound'],
          rate: args['slow-consumer-rate'],
          seconds: args['flow-seconds'],
        })
      : undefined;
    if (flow) {
      say(
        `flow control: slow consumer at ${args['slow-consumer-rate']}/s for ${args['flow-seconds']} s, bound ${args['flow-bound']}: ` +
          `largest backlog ${flow.largestBacklog}, ${flow.published} events published (${round(flow.published / args['flow-seconds'])}/s), Redis memory growth ${round(flow.redisGrowthMb)} MB`,
      );
    }
    // Source protection: the same load during a backfill with the default settings, in a worker
    // process of its own (protection is a process setting) that replaces the unprotected one.
    let protectedRun: Awaited<ReturnType<typeof underBackfill>> | undefined;
    let protectedAlone: typeof protectedRun;
    let throttledSeconds: number | undefined;
    if (args['api-load-seconds'] && unthrottled && toggleIdle) {
      stopped.add(worker);
      await worker.stop();
      const metricsPort = await findFreePort();
      const guarded = startApp('worker', {
        ...env,
        WORKER_ROLES: 'runs,credits,organizations,memberships',
        WORKER_METRICS_PORT: String(metricsPort),
      });
      apps.push(guarded);
      running = guarded;
      const throttledTotal = async () => {
        for (let i = 0; ; i++) {
          try {
            const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
            return Number(text.match(/^hs_backfill_source_throttled_seconds_total (\S+)$/m)?.[1]);
          } catch (error) {
            if (i > 1200) throw error;
            await sleep(100);
          }
        }
      };
      const before = await throttledTotal();
      protectedRun = await underBackfill(undefined);
      throttledSeconds = (await throttledTotal()) - before;
      describeUnder('during a default-settings backfill (source protection on)', protectedRun);
      protectedAlone = await underBackfill(undefined, false);
      describeAlone('with the default settings (source protection on)', protectedAlone);
      const p99Target = 2 * toggleIdle.p99 + 10;
      say(
        `source protection: toggle p99 ${round(protectedRun.toggle.p99, 1)} ms beside it, ${round(protectedRun.toggle.p99 / toggleIdle.p99, 2)}x the idle p99 ` +
          `(target <= 2x idle + 10 ms = ${round(p99Target, 1)} ms: ${protectedRun.toggle.p99 <= p99Target ? 'met' : 'missed'}); ` +
          `rate ${round((100 * protectedRun.eventsPerSecond) / unthrottled.eventsPerSecond)}% of the unprotected backfill's beside the same load (target >= 50%); ` +
          `with no API load ${round((100 * protectedAlone.eventsPerSecond) / (alone?.eventsPerSecond ?? Number.NaN))}% of full speed (target >= 90%); ` +
          `pages waited ${round(throttledSeconds, 1)} s in all for the source under load; at the end: ${protectedRun.throttledAtEnd ?? 'not throttled'}`,
      );
    }
    // The same backfill, its pages read from a streaming replica, by a worker of its own.
    let fromReplica: ReplicaPhaseResult | undefined;
    if (args.replica) {
      stopped.add(running);
      await running.stop();
      say('taking a streaming replica of the database (pg_basebackup)...');
      const measured = await replicaPhase({
        databaseUrl: database.url,
        redis,
        base,
        headers,
        tenantId,
        prefix,
        env,
        primaryPorts: ports,
        apps,
      });
      fromReplica = measured;
      const perEvent = (cpuSeconds: number) => round((cpuSeconds * 1e6) / measured.events, 1);
      say(
        `replica  ${measured.events} events in ${round(measured.seconds, 2)} s: ` +
          `${round(measured.events / measured.seconds)} events/s, pages read from a streaming replica ` +
          `(base backup ${round(measured.backupSeconds, 1)} s); Postgres CPU per event: ` +
          `primary ${perEvent(measured.cpu.primary)} µs (${round(((cpu.postgres ?? 0) * 1e6) / events, 1)} µs with pages read from it), ` +
          `replica ${perEvent(measured.cpu.replica)} µs; worker ${perEvent(measured.cpu.worker)} µs`,
      );
    }
    const ratioToNaive = eventsPerSecond / naive.eventsPerSecond;
    const ratioToCeiling = eventsPerSecond / roof.eventsPerSecond;
    say(
      `ours / naive = ${round(ratioToNaive, 1)}x; ours / ceiling = ${round(ratioToCeiling, 2)}x; naive at this size would take ${round(naive.estimatedSeconds / 60, 1)} min`,
    );
    say(`command: ${command}`);
    say(
      JSON.stringify({
        rows: events,
        eventsPerSecond: round(eventsPerSecond),
        naiveEventsPerSecond: round(naive.eventsPerSecond),
        ceilingEventsPerSecond: round(roof.eventsPerSecond),
        ratioToNaive: round(ratioToNaive, 1),
        ratioToCeiling: round(ratioToCeiling, 2),
        redisCpuUsPerEvent: round(((cpu.redis ?? 0) * 1e6) / events, 2),
        ceilingRedisCpuUsPerEvent: round(ceilingRedisUsPerEvent, 2),
        workerCpuUsPerEvent: round(((cpu.worker ?? 0) * 1e6) / events, 2),
        postgresCpuUsPerEvent: round(((cpu.postgres ?? 0) * 1e6) / events, 2),
        workerPeakRssMb: round(workerPeakRssMb),
        redisMemoryGrowthMb: round((memoryAfter - memoryBefore) / 2 ** 20),
        ...(toggleIdle ? { toggleIdleP99Ms: round(toggleIdle.p99, 1) } : {}),
        ...(unthrottled
          ? {
              toggleP50Ms: round(unthrottled.toggle.p50, 1),
              toggleP99Ms: round(unthrottled.toggle.p99, 1),
              statusP99Ms: round(unthrottled.status.p99, 1),
            }
          : {}),
        ...(throttled ? { toggleP99MsCappedBackfill: round(throttled.toggle.p99, 1) } : {}),
        ...(unthrottled
          ? { fullSpeedBackfillEventsPerSecond: round(unthrottled.eventsPerSecond) }
          : {}),
        ...(protectedRun && unthrottled && toggleIdle
          ? {
              toggleP99MsProtectedBackfill: round(protectedRun.toggle.p99, 1),
              protectedToggleP99ToIdle: round(protectedRun.toggle.p99 / toggleIdle.p99, 2),
              protectedBackfillEventsPerSecond: round(protectedRun.eventsPerSecond),
              protectedRateToUnprotected: round(
                protectedRun.eventsPerSecond / unthrottled.eventsPerSecond,
                2,
              ),
              protectedThrottledSeconds: round(throttledSeconds ?? 0, 1),
              protectedToggleP99TargetMs: round(2 * toggleIdle.p99 + 10, 1),
              protectedThrottledBySignal: Object.fromEntries(
                Object.entries(protectedRun.signals.throttledSeconds).map(([k, v]) => [
                  k,
                  round(v, 2),
                ]),
              ),
            }
          : {}),
        ...(alone && protectedAlone
          ? {
              aloneBackfillEventsPerSecond: round(alone.eventsPerSecond),
              protectedAloneEventsPerSecond: round(protectedAlone.eventsPerSecond),
              protectedAloneRateToUnprotected: round(
                protectedAlone.eventsPerSecond / alone.eventsPerSecond,
                2,
              ),
            }
          : {}),
        ...(fromReplica
          ? {
              replicaEventsPerSecond: round(fromReplica.events / fromReplica.seconds),
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
  } finally {
    stopping = true;
    await Promise.all(apps.map((app) => app.stop()));
    redis.disconnect();
    await database.destroy();
    await services.stop();
    await rm(work, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`error: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
