/**
 * `npm run bench:scale-out -- [--memberships 400000] [--partitions 8] [--workers 1,2,3,4]
 *                             [--concurrency 2] [--run-memberships 100000] [--runs 1,2,4]
 *                             [--run-workers 2] [--run-partitions 1]`
 *
 * How the backfill's rate grows with processes on this machine, on one seeded data set:
 *   workers  one memberships run of `--partitions` partitions, served by 1, 2, ... worker processes;
 *   runs     N tenants' memberships runs started at the same moment, served by `--run-workers`;
 *   ceiling  the per-stream ceiling: every membership of an application goes to one stream, one key
 *            on one single-threaded Redis, so no number of workers passes 1e6 / (Redis CPU µs per
 *            event); printed beside the `redis-cli --pipe` ceiling measured in the same invocation.
 * Every worker is a real worker process with the benchmark's headline settings (source protection
 * off). The figures come from /proc, Redis, the runs' rows in Postgres and the workers' metrics
 * alone, so the worker's internals can change without this benchmark changing.
 * The last line printed is one JSON object with the figures.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { seedTenant } from '@historical-sync/db';
import { createTestDatabase } from '@historical-sync/db/testing';
import { findFreePort, localStateDir, startLocalServices } from '@historical-sync/local-stack';
import { Redis } from 'ioredis';
import { z } from 'zod';
import { ceiling } from './lib/ceiling';
import { cpuDelta, cpuSnapshot, machineCpu, processCpuSeconds, serverPorts } from './lib/cpu';
import { type AppProcess, startApp, waitForOk } from './lib/processes';
import { parseCommandStats } from './lib/redis-stats';
import { say, sleep } from './lib/say';
import { round } from './lib/stats';

const count = (fallback: number) => z.coerce.number().int().min(0).default(fallback);
const positive = (fallback: number) => z.coerce.number().int().min(1).default(fallback);
const counts = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((value) => value.split(',').map((n) => Number(n.trim())))
    .pipe(z.array(z.number().int().min(1).max(32)).min(1));
const Args = z.object({
  /** The tenant of the one-run measurement. */
  memberships: count(400_000),
  orgs: count(20_000),
  /**
   * Partitions of that run: enough that 4 processes each have work at the default concurrency of 2
   * (with 4, the first two processes would take every partition).
   */
  partitions: positive(8),
  workers: counts('1,2,3,4'),
  /** Jobs each worker process runs at once per queue (WORKER_CONCURRENCY; 2 is its default). */
  concurrency: positive(2),
  /** Each tenant of the several-runs measurement (as many tenants as the largest of --runs). */
  'run-memberships': count(100_000),
  runs: counts('1,2,4'),
  'run-workers': positive(2),
  /** Partitions of each of those runs (1: what a toggle starts with the default settings). */
  'run-partitions': positive(1),
  'page-size': positive(1000),
  'ceiling-sample': count(200_000),
});

const ADMIN_KEY = 'bench-admin-key';

/** What one measurement (one or several runs at once) cost and gave. */
interface Measurement {
  events: number;
  seconds: number;
  eventsPerSecond: number;
  /** CPU µs per event: the worker processes summed, Postgres (all its processes), Redis. */
  workerUs: number;
  postgresUs: number;
  redisUs: number;
  /** CPU seconds / wall seconds (cores used): the workers summed, Postgres, and Redis, whose
   * one thread is fully busy at 1.0. */
  workerShare: number;
  postgresShare: number;
  redisShare: number;
  /** Redis's busiest commands (`INFO commandstats`): time in each per event, largest first. */
  redisCommands: Array<{ command: string; usPerEvent: number }>;
  /** Busy share of the whole machine's cores (every process on it, ours or not). */
  machineBusy: number;
  /** Cores used by the API process and this benchmark's own process (it polls the runs). */
  apiBenchShare: number;
  /** Cores used by everything else on the machine: other people's work on a shared machine. */
  restShare: number;
  /** Events each worker process published (its `hs_events_published_total`). */
  byProcess: number[];
  /** Each run's own rate, from its start to its end as it reports them. */
  perRun: number[];
}

async function main() {
  const { values } = parseArgs({
    options: Object.fromEntries(Object.keys(Args.shape).map((k) => [k, { type: 'string' }])),
  });
  const args = Args.parse(values);
  const command = `npm run bench:scale-out -- ${Object.entries(args)
    .map(([k, v]) => `--${k} ${Array.isArray(v) ? v.join(',') : v}`)
    .join(' ')}`;
  const maxRuns = Math.max(...args.runs);
  const cores = availableParallelism();
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
  const apps = new Set<AppProcess>();
  let stopping = false;
  // Ctrl-C still stops every process and server this benchmark started.
  const onSignal = () => {
    stopping = true;
    void Promise.all([...apps].map((app) => app.stop()))
      .then(() => services.stop())
      .finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    say(
      `seeding ${args.memberships} memberships (one tenant) and ${maxRuns} tenants of ${args['run-memberships']}...`,
    );
    const seedStarted = performance.now();
    const seed = (name: string, memberships: number, seed: number) =>
      seedTenant(database.db, {
        tenantName: name,
        organizations: Math.max(1, Math.min(args.orgs, memberships)),
        memberships,
        creditAllocations: 0,
        app: 'crm',
        seed,
      }).then((result) => result.tenantId);
    const bigTenant = await seed('scale-out', args.memberships, 1);
    const runTenants: string[] = [];
    for (let i = 0; i < maxRuns; i++)
      runTenants.push(await seed(`scale-out-${i + 1}`, args['run-memberships'], 2 + i));
    say(`seeded in ${round((performance.now() - seedStarted) / 1000, 1)} s`);

    const ports = serverPorts(database.url, services.redisUrl);
    const pipe = await ceiling(
      database.db,
      redis,
      services.redisUrl,
      bigTenant,
      Math.min(args['ceiling-sample'], args.memberships),
      work,
      `${prefix}-ceiling:`,
      ports,
    );
    const pipeRedisUs = pipe.redisCpuUsPerEvent;
    say(
      `ceiling  ${pipe.events} events in ${round(pipe.seconds, 2)} s: ${round(pipe.eventsPerSecond)} events/s ` +
        `(redis-cli --pipe of prebuilt XADDs into one stream), Redis CPU ${round(pipeRedisUs, 2)} µs per event`,
    );

    const port = await findFreePort();
    const env = {
      ...process.env,
      DATABASE_URL: database.url,
      REDIS_URL: services.redisUrl,
      QUEUE_PREFIX: prefix,
      STREAM_PREFIX: `${prefix}:`,
      BACKFILL_PAGE_SIZE: String(args['page-size']),
      PORT: String(port),
      ADMIN_API_KEY: ADMIN_KEY,
      LOG_LEVEL: 'warn',
      RATE_LIMIT_PER_MINUTE: '100000000',
    };
    const watch = (app: AppProcess) => {
      apps.add(app);
      app.child.once('exit', (code) => {
        if (!stopping && apps.has(app))
          process.stderr.write(`error: an app exited early (${code}):\n${app.output()}\n`);
      });
      return app;
    };
    const stop = async (app: AppProcess) => {
      apps.delete(app);
      await app.stop();
    };
    const api = watch(startApp('api', env));
    const base = `http://127.0.0.1:${port}`;
    const headers = { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' };
    await waitForOk(`${base}/health`, () => api.output());
    for (const tenant of [bigTenant, ...runTenants]) {
      // Enabled without a run: each measurement starts its own runs.
      const response = await fetch(
        `${base}/admin/organizations/${tenant}/applications/crm/toggle`,
        {
          method: 'POST',
          headers,
          body: JSON.stringify({ isEnabled: true, skipHistoricalSync: true }),
        },
      );
      if (!response.ok) throw new Error(`toggle: ${response.status} ${await response.text()}`);
    }

    /** Worker processes with the headline settings of `npm run bench`, each serving its metrics. */
    const startWorkers = async (n: number) => {
      const started: Array<{ app: AppProcess; metrics: string }> = [];
      for (let i = 0; i < n; i++) {
        const metricsPort = await findFreePort();
        const app = watch(
          startApp('worker', {
            ...env,
            WORKER_ROLES: 'runs,credits,organizations,memberships',
            BACKFILL_SOURCE_PROTECTION: 'off',
            WORKER_CONCURRENCY: String(args.concurrency),
            WORKER_METRICS_PORT: String(metricsPort),
          }),
        );
        started.push({ app, metrics: `http://127.0.0.1:${metricsPort}/metrics` });
      }
      // Its metrics are served once its queues are open.
      for (const { app, metrics } of started) await waitForOk(metrics, () => app.output());
      return started;
    };
    const publishedBy = async (metrics: string) => {
      const text = await (await fetch(metrics)).text();
      let total = 0;
      for (const match of text.matchAll(
        /^hs_events_published_total\{[^}]*source="historical"[^}]*\} (\S+)$/gm,
      ))
        total += Number(match[1]);
      return total;
    };

    /** Starts one memberships run per tenant at once and waits for all to complete. */
    const measure = async (
      workers: Array<{ app: AppProcess; metrics: string }>,
      tenants: string[],
      partitions: number,
    ): Promise<Measurement> => {
      const streams = await redis.keys(`${prefix}:crm:*`);
      if (streams.length) await redis.unlink(...streams);
      const pids = workers.map((w) => w.app.child.pid);
      const publishedBefore = await Promise.all(workers.map((w) => publishedBy(w.metrics)));
      await redis.config('RESETSTAT');
      const machineBefore = await machineCpu();
      const cpuBefore = await cpuSnapshot(pids, ports);
      const apiBenchBefore = (await processCpuSeconds(api.child.pid)) + ownCpuSeconds();
      const started = performance.now();
      const runIds = await Promise.all(
        tenants.map(async (tenant) => {
          const response = await fetch(
            `${base}/admin/organizations/${tenant}/applications/crm/sync-historical`,
            {
              method: 'POST',
              headers,
              body: JSON.stringify({ syncCredits: false, syncOrganizations: false, partitions }),
            },
          );
          if (!response.ok) throw new Error(`sync: ${response.status} ${await response.text()}`);
          return ((await response.json()) as { runId: string }).runId;
        }),
      );
      // Polled in Postgres, not through the API: one cheap query, so the API's CPU stays out of
      // the figures (a status request per run every 50 ms costs it a visible share of a core).
      const readRuns = () =>
        database.db
          .selectFrom('backfill_runs as r')
          .innerJoin('backfill_run_resources as rr', 'rr.run_id', 'r.id')
          .select(['r.id', 'r.status', 'r.started_at', 'r.finished_at'])
          .select((eb) => eb.fn.sum<string>('rr.published').as('published'))
          .where('r.id', 'in', runIds)
          .groupBy(['r.id', 'r.status', 'r.started_at', 'r.finished_at'])
          .execute();
      let views: Awaited<ReturnType<typeof readRuns>>;
      for (;;) {
        views = await readRuns();
        if (views.every((v) => v.status === 'completed' || v.status === 'failed')) break;
        for (const { app } of workers)
          if (app.child.exitCode !== null) throw new Error(`a worker exited: ${app.output()}`);
        await sleep(50);
      }
      const seconds = (performance.now() - started) / 1000;
      const cpu = cpuDelta(cpuBefore, await cpuSnapshot(pids, ports));
      const machineAfter = await machineCpu();
      const apiBench = (await processCpuSeconds(api.child.pid)) + ownCpuSeconds() - apiBenchBefore;
      const machineBusy =
        (machineAfter.busySeconds - machineBefore.busySeconds) /
        (machineAfter.totalSeconds - machineBefore.totalSeconds);
      const ours = (cpu.worker ?? 0) + (cpu.postgres ?? 0) + (cpu.redis ?? 0) + apiBench;
      const commands = parseCommandStats(await redis.info('commandstats'));
      const failed = views.find((v) => v.status !== 'completed');
      if (failed) throw new Error(`a run ${failed.status}`);
      const events = views.reduce((sum, v) => sum + Number(v.published), 0);
      const publishedAfter = await Promise.all(workers.map((w) => publishedBy(w.metrics)));
      const us = (cpuSeconds = 0) => (cpuSeconds * 1e6) / events;
      return {
        events,
        seconds,
        eventsPerSecond: events / seconds,
        workerUs: us(cpu.worker),
        postgresUs: us(cpu.postgres),
        redisUs: us(cpu.redis),
        workerShare: (cpu.worker ?? 0) / seconds,
        postgresShare: (cpu.postgres ?? 0) / seconds,
        redisShare: (cpu.redis ?? 0) / seconds,
        redisCommands: Object.entries(commands)
          .map(([command, stat]) => ({ command, usPerEvent: stat.usec / Math.max(1, events) }))
          .sort((x, y) => y.usPerEvent - x.usPerEvent)
          .slice(0, 4),
        machineBusy,
        apiBenchShare: apiBench / seconds,
        restShare: Math.max(0, machineBusy * cores - ours / seconds),
        byProcess: publishedAfter.map((after, i) => after - (publishedBefore[i] ?? 0)),
        perRun: views.map((v) =>
          v.started_at && v.finished_at
            ? Number(v.published) / ((v.finished_at.getTime() - v.started_at.getTime()) / 1000)
            : Number.NaN,
        ),
      };
    };
    const row = (m: Measurement) =>
      `${m.events} | ${round(m.seconds, 2)} | ${round(m.eventsPerSecond)} | ` +
      `${round(m.workerUs, 2)} | ${round(m.postgresUs, 2)} | ${round(m.redisUs, 2)} | ` +
      `${[m.workerShare, m.postgresShare, m.redisShare, m.apiBenchShare, m.restShare].map((c) => round(c, 2)).join(' / ')} | ` +
      `${round(m.machineBusy * 100)}% | ${round(1e6 / m.redisUs)} | ` +
      `${m.byProcess.map((n) => round(n)).join(' / ')}`;
    const header =
      '| events | s | events/s | worker µs/event | Postgres µs/event | Redis µs/event | ' +
      'cores used: workers / Postgres / Redis / API and benchmark / rest of the machine | ' +
      `machine busy (${cores} cores) | 1e6 / Redis µs | events by process |`;

    // 1. One run, more worker processes.
    say(
      `\none run of ${args.memberships} memberships in ${args.partitions} partitions, by more worker processes (each running ${args.concurrency} jobs at once):`,
    );
    say(`| workers ${header}`);
    const byWorkers: Array<{ workers: number } & Measurement> = [];
    for (const n of args.workers) {
      const workers = await startWorkers(n);
      const m = await measure(workers, [bigTenant], args.partitions);
      byWorkers.push({ workers: n, ...m });
      say(`| ${n} | ${row(m)} |`);
      await Promise.all(workers.map((w) => stop(w.app)));
    }

    // 2. Several runs at once: each tenant's memberships go to the application's one stream.
    say(
      `\nseveral runs at once, each a tenant's ${args['run-memberships']} memberships in ${args['run-partitions']} partition(s), by ${args['run-workers']} worker processes, into one stream:`,
    );
    say(`| runs ${header} per-run events/s |`);
    const byRuns: Array<{ runs: number } & Measurement> = [];
    const runWorkers = await startWorkers(args['run-workers']);
    for (const n of args.runs) {
      const m = await measure(runWorkers, runTenants.slice(0, n), args['run-partitions']);
      byRuns.push({ runs: n, ...m });
      say(`| ${n} | ${row(m)} | ${m.perRun.map((r) => round(r)).join(' / ')} |`);
    }
    await Promise.all(runWorkers.map((w) => stop(w.app)));

    // 3. The per-stream ceiling Redis's cost implies: its lowest measured cost gives the highest
    // ceiling, so no run on this code passes it, however many workers publish.
    const all = [...byWorkers, ...byRuns];
    const lowestRedisUs = Math.min(...all.map((m) => m.redisUs));
    const best = all.reduce((a, b) => (b.eventsPerSecond > a.eventsPerSecond ? b : a));
    // The machine's own ceiling for this pipeline: its cores, were nothing else running, over the
    // CPU an event costs the workers, Postgres and Redis together (the cheapest measurement's).
    const lowestPipelineUs = Math.min(...all.map((m) => m.workerUs + m.postgresUs + m.redisUs));
    say(
      `\nper-stream ceiling: 1e6 / ${round(lowestRedisUs, 2)} Redis CPU µs per event (the lowest measured) = ` +
        `${round(1e6 / lowestRedisUs)} events/s; redis-cli --pipe into one stream: ${round(pipe.eventsPerSecond)} events/s ` +
        `(its Redis CPU ${round(pipeRedisUs, 2)} µs per event, 1e6 / that = ${round(1e6 / pipeRedisUs)}); ` +
        `best measured ${round(best.eventsPerSecond)} events/s with Redis ${round(best.redisShare * 100)}% busy ` +
        `(its busiest commands in µs of Redis time per event, a script's including the commands it calls: ${best.redisCommands
          .map((c) => `${c.command} ${round(c.usPerEvent, 2)}`)
          .join(', ')})`,
    );
    say(
      `machine ceiling: ${cores} cores / ${round(lowestPipelineUs, 2)} CPU µs per event (workers + Postgres + Redis, the lowest measured) = ` +
        `${round((cores * 1e6) / lowestPipelineUs)} events/s were the pipeline alone on the machine`,
    );
    say(`command: ${command}`);
    const figures = (m: Measurement) => ({
      events: m.events,
      eventsPerSecond: round(m.eventsPerSecond),
      workerCpuUsPerEvent: round(m.workerUs, 2),
      postgresCpuUsPerEvent: round(m.postgresUs, 2),
      redisCpuUsPerEvent: round(m.redisUs, 2),
      workerCores: round(m.workerShare, 2),
      postgresCores: round(m.postgresShare, 2),
      redisCpuShare: round(m.redisShare, 2),
      apiAndBenchmarkCores: round(m.apiBenchShare, 2),
      restOfMachineCores: round(m.restShare, 2),
      machineBusy: round(m.machineBusy, 2),
      redisCommandsUsPerEvent: Object.fromEntries(
        m.redisCommands.map((c) => [c.command, round(c.usPerEvent, 2)]),
      ),
      eventsByProcess: m.byProcess.map((n) => round(n)),
    });
    say(
      JSON.stringify({
        cores,
        partitions: args.partitions,
        byWorkers: byWorkers.map((m) => ({ workers: m.workers, ...figures(m) })),
        byRuns: byRuns.map((m) => ({
          runs: m.runs,
          ...figures(m),
          perRunEventsPerSecond: m.perRun.map((r) => round(r)),
        })),
        perStreamCeilingEventsPerSecond: round(1e6 / lowestRedisUs),
        lowestRedisCpuUsPerEvent: round(lowestRedisUs, 2),
        ceilingEventsPerSecond: round(pipe.eventsPerSecond),
        ceilingRedisCpuUsPerEvent: round(pipeRedisUs, 2),
        machineCeilingEventsPerSecond: round((cores * 1e6) / lowestPipelineUs),
      }),
    );
  } finally {
    stopping = true;
    await Promise.all([...apps].map((app) => app.stop()));
    redis.disconnect();
    await database.destroy();
    await services.stop();
    await rm(work, { recursive: true, force: true });
  }
}

function ownCpuSeconds() {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
}

/** Polls `url` until it answers 2xx (a process started); fails after two minutes. */
main().catch((error: unknown) => {
  process.stderr.write(`error: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
