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
import { type Db, seedTenant } from '@historical-sync/db';
import { createTestDatabase } from '@historical-sync/db/testing';
import { localStateDir, startLocalServices } from '@historical-sync/local-stack';
import { Redis } from 'ioredis';
import { z } from 'zod';
import { apiLoadPhase, protectionPhase } from './lib/api-under-load';
import { type BenchTarget, type Fleet, retire, startBenchApps } from './lib/bench-apps';
import { ceiling } from './lib/ceiling';
import { serverPorts } from './lib/cpu';
import { flowControlPhase } from './lib/flow';
import { type HeadlineRun, headlineRun, profilePhase } from './lib/headline';
import { naiveBackfill } from './lib/naive';
import type { AppProcess } from './lib/processes';
import { replicaPhase } from './lib/replica-phase';
import { say } from './lib/say';
import { round } from './lib/stats';
import { report } from './lib/summary';

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

type BenchArgs = z.infer<typeof Args>;

/** The tenant every backfill reads, and a one-row tenant for the API load to toggle. */
async function seed(db: Db, args: BenchArgs) {
  say(
    `seeding ${args.memberships} memberships, ${args.orgs} organizations, ${args.credits} credit allocations...`,
  );
  const seedStarted = performance.now();
  const { tenantId } = await seedTenant(db, {
    tenantName: 'bench',
    organizations: args.orgs,
    memberships: args.memberships,
    creditAllocations: args.credits,
    app: 'crm',
    seed: 1,
  });
  const { tenantId: otherTenant } = await seedTenant(db, {
    tenantName: 'bench-other',
    organizations: 1,
    memberships: 1,
    creditAllocations: 0,
    app: 'crm',
    seed: 2,
  });
  say(`seeded in ${round((performance.now() - seedStarted) / 1000, 1)} s`);
  return { tenantId, otherTenant };
}

async function naivePhase(t: Omit<BenchTarget, 'base' | 'headers'>, args: BenchArgs) {
  const naive = await naiveBackfill(
    t.db,
    t.redis,
    t.tenantId,
    args.memberships,
    Math.min(args['naive-sample'], args.memberships),
    `${t.prefix}-naive:`,
  );
  say(
    `naive    ${naive.events} events sampled in 10 slices across the table, ${round(naive.seconds, 2)} s: ` +
      `${round(naive.eventsPerSecond)} events/s at equal size (OFFSET pages of 100, one awaited XADD per event)`,
  );
  return naive;
}

async function ceilingPhase(
  t: Omit<BenchTarget, 'base' | 'headers'>,
  args: BenchArgs,
  work: string,
) {
  const roof = await ceiling(
    t.db,
    t.redis,
    t.redisUrl,
    t.tenantId,
    Math.min(args['ceiling-sample'], args.memberships),
    work,
    `${t.prefix}-ceiling:`,
    t.ports,
  );
  say(`ceiling  Redis CPU ${round(roof.redisCpuUsPerEvent, 2)} µs per event while it ingests them`);
  say(
    `ceiling  ${roof.events} events in ${round(roof.seconds, 2)} s: ${round(roof.eventsPerSecond)} events/s (redis-cli --pipe of prebuilt XADDs)`,
  );
  return roof;
}

async function flowPhase(t: BenchTarget, args: BenchArgs) {
  const flow = await flowControlPhase({
    redis: t.redis,
    base: t.base,
    headers: t.headers,
    tenantId: t.tenantId,
    prefix: t.prefix,
    bound: args['flow-bound'],
    rate: args['slow-consumer-rate'],
    seconds: args['flow-seconds'],
  });
  say(
    `flow control: slow consumer at ${args['slow-consumer-rate']}/s for ${args['flow-seconds']} s, bound ${args['flow-bound']}: ` +
      `largest backlog ${flow.largestBacklog}, ${flow.published} events published (${round(flow.published / args['flow-seconds'])}/s), Redis memory growth ${round(flow.redisGrowthMb)} MB`,
  );
}

/** The same backfill, its pages read from a streaming replica, by a worker of its own. */
async function replicaBackfill(t: BenchTarget, fleet: Fleet, ours: HeadlineRun) {
  await retire(fleet, fleet.running);
  say('taking a streaming replica of the database (pg_basebackup)...');
  const measured = await replicaPhase({
    databaseUrl: t.databaseUrl,
    redis: t.redis,
    base: t.base,
    headers: t.headers,
    tenantId: t.tenantId,
    prefix: t.prefix,
    env: fleet.env,
    primaryPorts: t.ports,
    apps: fleet.apps,
  });
  const perEvent = (cpuSeconds: number) => round((cpuSeconds * 1e6) / measured.events, 1);
  say(
    `replica  ${measured.events} events in ${round(measured.seconds, 2)} s: ` +
      `${round(measured.events / measured.seconds)} events/s, pages read from a streaming replica ` +
      `(base backup ${round(measured.backupSeconds, 1)} s); Postgres CPU per event: ` +
      `primary ${perEvent(measured.cpu.primary)} µs (${round(((ours.cpu.postgres ?? 0) * 1e6) / ours.events, 1)} µs with pages read from it), ` +
      `replica ${perEvent(measured.cpu.replica)} µs; worker ${perEvent(measured.cpu.worker)} µs; ` +
      `largest replica lag the worker saw ${round(measured.maxLagMs)} ms (its limit ${measured.lagLimitMs} ms)`,
  );
  return measured;
}

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
  const apps: AppProcess[] = [];
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
    const seeded = {
      db: database.db,
      redis,
      redisUrl: services.redisUrl,
      databaseUrl: database.url,
    };
    const data = { ...seeded, prefix: `bench${process.pid}`, ...(await seed(database.db, args)) };
    const setup = { ...data, ports: serverPorts(database.url, services.redisUrl) };
    const naive = await naivePhase(setup, args);
    const roof = await ceilingPhase(setup, args, work);
    const { target, fleet } = await startBenchApps({
      target: setup,
      apps,
      pageSize: args['page-size'],
      partitions: args.partitions,
      flowBound: args['flow-bound'],
      profileDir: args['profile-dir'],
      stopping: () => stopping,
    });
    const ours = await headlineRun(target, fleet);
    // A profiling invocation measures the headline run alone: the later phases are skipped.
    const profileDir = args['profile-dir'];
    if (profileDir) await profilePhase(profileDir, ours, fleet);
    const later = profileDir
      ? { ...args, 'api-load-seconds': 0, 'flow-seconds': 0, replica: 0 }
      : args;
    const seconds = later['api-load-seconds'];
    const load = seconds
      ? await apiLoadPhase(target, seconds, later['api-load-backfill-rate'])
      : undefined;
    if (later['flow-seconds']) await flowPhase(target, later);
    const guarded = load ? await protectionPhase(target, fleet, seconds, load) : undefined;
    const fromReplica = later.replica ? await replicaBackfill(target, fleet, ours) : undefined;
    report({ ours, naive, roof, load, guarded, fromReplica }, command);
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
