/**
 * The backfill bench's running system: the API and a backfill worker as their own processes, and
 * what every phase that drives them shares (where the API answers, whose data, which streams).
 */
import type { Db } from '@historical-sync/db';
import { findFreePort } from '@historical-sync/local-stack';
import type { Redis } from 'ioredis';
import type { ServerPorts } from './cpu';
import { type AppProcess, startApp, waitForOk } from './processes';
import { sleep } from './say';

const ADMIN_KEY = 'bench-admin-key';

export interface BenchTarget {
  db: Db;
  redis: Redis;
  redisUrl: string;
  databaseUrl: string;
  /** Queue and stream prefix: the bench's keys apart from anything else in this Redis. */
  prefix: string;
  ports: ServerPorts;
  /** The seeded tenant every backfill reads. */
  tenantId: string;
  /** A one-row tenant the API load toggles, so the load never touches the measured runs. */
  otherTenant: string;
  base: string;
  headers: Record<string, string>;
}

export interface Fleet {
  /** Every process started, so Ctrl-C and the bench's end stop them all. */
  apps: AppProcess[];
  /** Processes stopped on purpose: their exit is no error. */
  stopped: Set<AppProcess>;
  /** The backfill worker serving the queues now (a later phase replaces it with its own). */
  running: AppProcess;
  /** The environment the apps run with; later phases start workers of their own from it. */
  env: NodeJS.ProcessEnv;
}

/** Stops an app on purpose (its exit is then not reported as an error). */
export async function retire(fleet: Fleet, app: AppProcess): Promise<void> {
  fleet.stopped.add(app);
  await app.stop();
}

export async function startBenchApps(options: {
  target: Omit<BenchTarget, 'base' | 'headers'>;
  apps: AppProcess[];
  pageSize: number;
  partitions: number;
  flowBound: number;
  profileDir: string | undefined;
  /** True once the bench is stopping: apps exiting then are expected. */
  stopping: () => boolean;
}): Promise<{ target: BenchTarget; fleet: Fleet }> {
  const { target, apps } = options;
  const port = await findFreePort();
  const env = {
    ...process.env,
    DATABASE_URL: target.databaseUrl,
    REDIS_URL: target.redisUrl,
    QUEUE_PREFIX: target.prefix,
    STREAM_PREFIX: `${target.prefix}:`,
    BACKFILL_PAGE_SIZE: String(options.pageSize),
    BACKFILL_PARTITIONS: String(options.partitions),
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
      BACKFILL_MAX_STREAM_BACKLOG: String(options.flowBound),
      // The headline, full-speed and capped figures are the backfill unprotected; the last
      // phase measures the default settings (source protection on) in a worker of its own.
      BACKFILL_SOURCE_PROTECTION: 'off',
    },
    options.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${options.profileDir}`] : [],
  );
  const fleet: Fleet = { apps, stopped: new Set(), running: worker, env };
  for (const app of [api, worker]) {
    app.child.once('exit', (code) => {
      if (!options.stopping() && !fleet.stopped.has(app))
        process.stderr.write(`error: an app exited early (${code}):\n${app.output()}\n`);
    });
  }
  apps.push(api, worker);
  const base = `http://127.0.0.1:${port}`;
  const headers = { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' };
  await waitForOk(`${base}/health`, () => api.output());
  await sleep(1_000); // the worker connects
  return { target: { ...target, base, headers }, fleet };
}
