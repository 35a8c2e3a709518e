/**
 * `npm run bench:cold-start -- [--runs 7]`
 *
 * Time from spawn to ready, the compiled build against TypeScript through tsx, on the same
 * Postgres and Redis, each start a new process:
 *   api     spawn until GET /ready first answers 200 (polled every 5 ms);
 *   worker  spawn until its `worker started` log line (printed once its queues are open).
 * Three ways of starting, interleaved run by run so that the machine's load hits each alike:
 *   compiled   `node apps/<app>/dist/main.js` (compiled once, before the runs);
 *   tsx warm   `node --import tsx apps/<app>/src/main.ts` with tsx's cache of compiled files
 *              filled by an earlier start (development, after the first start);
 *   tsx cold   the same with an empty cache (TMPDIR is a new folder): a new container's start.
 * Prints the median, minimum and maximum of each in milliseconds; the last line is one JSON object.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createDb, migrateToLatest } from '@historical-sync/db';
import { findFreePort, localStateDir, startLocalServices } from '@historical-sync/local-stack';
import { z } from 'zod';
import { APP_ENTRIES, type AppEntry, compileApps, nodeArgs } from '../scripts/lib/apps';
import { ROOT } from './lib/processes';
import { say } from './lib/say';
import { percentile, round } from './lib/stats';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '7' } } });
const runs = z.coerce.number().int().min(1).parse(values.runs);
const app = (name: string) => APP_ENTRIES.find((a) => a.name === name) as AppEntry;
const MODES = ['compiled', 'tsx warm', 'tsx cold'] as const;
type Mode = (typeof MODES)[number];

async function timeToReady(
  entry: AppEntry,
  mode: Mode,
  env: NodeJS.ProcessEnv,
  ready: (child: ChildProcess, output: () => string) => Promise<boolean>,
): Promise<number> {
  const coldTmp = mode === 'tsx cold' ? await mkdtemp(join(tmpdir(), 'tsx-cold-')) : undefined;
  const started = performance.now();
  const child = spawn(process.execPath, nodeArgs(entry, mode === 'compiled'), {
    cwd: ROOT,
    env: { ...env, ...(coldTmp ? { TMPDIR: coldTmp } : {}) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = once(child, 'exit');
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`${entry.name} exited:\n${output}`);
      if (await ready(child, () => output)) return performance.now() - started;
      if (performance.now() - started > 120_000)
        throw new Error(`${entry.name} not ready:\n${output}`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  } finally {
    child.kill('SIGTERM');
    await exited;
    if (coldTmp) await rm(coldTmp, { recursive: true, force: true });
  }
}

const services = await startLocalServices({
  stateDir: localStateDir(`bench-${process.pid}`),
  databaseUrl: process.env.DATABASE_URL,
  redisUrl: process.env.REDIS_URL,
  ephemeral: true,
});
try {
  const db = createDb({ connectionString: services.databaseUrl, maxConnections: 1 });
  await migrateToLatest(db).finally(() => db.destroy());
  const api = app('api');
  const worker = app('worker');
  say('compiling the API and the worker...');
  await compileApps(ROOT, [api, worker]);
  const port = await findFreePort(3200);
  const env = {
    ...process.env,
    DATABASE_URL: services.databaseUrl,
    REDIS_URL: services.redisUrl,
    PORT: String(port),
    HOST: '127.0.0.1',
    QUEUE_PREFIX: `cold${process.pid}`,
    WORKER_ROLES: 'runs,credits,organizations,memberships,relay,sweeper',
    LOG_LEVEL: 'info',
  };
  const readyChecks = {
    api: () =>
      fetch(`http://127.0.0.1:${port}/ready`).then(
        (r) => r.status === 200,
        () => false,
      ),
    worker: async (_: ChildProcess, output: () => string) =>
      output().includes('"msg":"worker started"'),
  };
  // Fills tsx's cache (and the OS's file cache) for the warm runs; not counted.
  for (const entry of [api, worker]) {
    for (const mode of MODES) await timeToReady(entry, mode, env, readyChecks[entry.name as 'api']);
  }
  const times: Record<string, number[]> = {};
  for (let run = 1; run <= runs; run++) {
    for (const entry of [api, worker]) {
      for (const mode of MODES) {
        const ms = await timeToReady(entry, mode, env, readyChecks[entry.name as 'api']);
        const key = `${entry.name} ${mode}`;
        times[key] = [...(times[key] ?? []), ms];
      }
    }
    say(`run ${run}/${runs} done (load average ${loadavg()[0]?.toFixed(1)})`);
  }
  const summary: Record<string, { median: number; min: number; max: number }> = {};
  say('');
  say(`| process | start | median | min | max |  (${runs} runs each, ms)`);
  say('| --- | --- | --- | --- | --- |');
  for (const [key, values] of Object.entries(times)) {
    const sorted = [...values].sort((a, b) => a - b);
    const figures = {
      median: round(percentile(sorted, 50)),
      min: round(sorted[0] as number),
      max: round(sorted.at(-1) as number),
    };
    summary[key] = figures;
    const [name, ...mode] = key.split(' ');
    say(`| ${name} | ${mode.join(' ')} | ${figures.median} | ${figures.min} | ${figures.max} |`);
  }
  // The machine's load during the runs: on a shared machine every figure grows with it.
  say(`load average (1 min) at the end: ${loadavg()[0]?.toFixed(1)} on this machine`);
  say(JSON.stringify({ runs, node: process.version, ms: summary }));
} finally {
  await services.stop();
}
