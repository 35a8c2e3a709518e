/**
 * `npm start`: brings the whole system up on this machine. Starts Postgres and Redis unless
 * DATABASE_URL / REDIS_URL are set, migrates, seeds a small demo tenant into an empty database,
 * then supervises every app until SIGINT / SIGTERM / SIGHUP (scripts/lib/supervisor.ts).
 * `npm start -- --production` compiles the apps first and runs the compiled entries with plain
 * node, as the image does; by default they run from their TypeScript through tsx.
 */

import { createDb, migrateToLatest, seedTenant } from '@historical-sync/db';
import {
  findFreePort,
  findWorkspaceRoot,
  isAlive,
  withLocalReplica,
} from '@historical-sync/local-stack';
import { sql } from 'kysely';
import { compileApps, nodeArgs, presentApps } from './lib/apps';
import { ensureConsoleBuilt } from './lib/console-build';
import { devDataLabel, runMain, startDevServices } from './lib/dev-services';
import { enginesNode, nodeSupport } from './lib/node-support';
import { readRunningStack, removeRunningStack, writeRunningStack } from './lib/running-stack';
import { describeOrigin, summaryLines, type TenantLine } from './lib/summary';
import { createSupervisor } from './lib/supervisor';

const DEMO_TENANT = 'demo';
/** Development default of the API's ADMIN_API_KEY (apps/api/src/config.ts). */
const DEV_ADMIN_API_KEY = 'dev-admin-key';
const SHOWN_TENANTS = 5;
const USAGE = 'usage: npm start [-- --production]';

const args = process.argv.slice(2);
const unknown = args.filter((arg) => arg !== '--production');
if (unknown.length) {
  process.stderr.write(`error: unknown argument ${unknown.join(' ')}\n${USAGE}\n`);
  process.exit(2);
}
const production = args.includes('--production');

// The terminal may be gone (SIGHUP): a failed write must not stop the orderly shutdown.
process.stdout.on('error', () => {});
const say = (line = '') => {
  try {
    process.stdout.write(`${line}\n`);
  } catch {
    // nowhere to print
  }
};

async function prepareDatabase(databaseUrl: string) {
  const db = createDb({ connectionString: databaseUrl, maxConnections: 1 });
  try {
    await migrateToLatest(db);
    const anyTenant = await db.selectFrom('tenants').select('id').limit(1).executeTakeFirst();
    let demoCreated = false;
    if (!anyTenant) {
      // The spec's example: 5 organizations, 10 memberships, 1 credit allocation for crm.
      await seedTenant(db, {
        tenantName: DEMO_TENANT,
        organizations: 5,
        memberships: 10,
        creditAllocations: 1,
        app: 'crm',
        seed: 1,
      });
      demoCreated = true;
    }
    const tenants: TenantLine[] = await db
      .selectFrom('tenants')
      .select(['id', 'name'])
      .orderBy('created_at')
      .orderBy('id')
      .limit(SHOWN_TENANTS + 1)
      .execute();
    const { n } = await db
      .selectFrom('tenants')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .executeTakeFirstOrThrow();
    const demo = tenants.find((t) => t.name === DEMO_TENANT);
    const others = tenants.filter((t) => t !== demo).slice(0, SHOWN_TENANTS - (demo ? 1 : 0));
    const moreTenants = Number(n) - others.length - (demo ? 1 : 0);
    return { demo, demoCreated, others, moreTenants };
  } finally {
    await db.destroy();
  }
}

/** The CRM's own database: CRM_DATABASE_URL, else a `historical_sync_crm` database beside the wrapper's. */
async function crmDatabaseUrl(databaseUrl: string): Promise<string> {
  if (process.env.CRM_DATABASE_URL) return process.env.CRM_DATABASE_URL;
  const url = new URL(databaseUrl);
  url.pathname = '/historical_sync_crm';
  const db = createDb({ connectionString: databaseUrl, maxConnections: 1 });
  try {
    await sql`CREATE DATABASE historical_sync_crm`.execute(db);
  } catch (error) {
    // 42P04: it exists already, from an earlier start.
    if (!(typeof error === 'object' && error && 'code' in error && error.code === '42P04'))
      throw error;
  } finally {
    await db.destroy();
  }
  return url.toString();
}

async function waitForHealth(apiUrl: string, isStopping: () => boolean, timeoutMs = 120_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && !isStopping()) {
    const ok = await fetch(`${apiUrl}/health`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  if (!isStopping()) {
    throw new Error(`the API did not answer at ${apiUrl}/health within ${timeoutMs / 1000}s`);
  }
}

runMain(async () => {
  const root = findWorkspaceRoot();
  let stopServices = async () => {};
  const supervisor = createSupervisor({
    // The record goes first: from then on seed, db:migrate and hsync no longer use this stack.
    stopServices: () => removeRunningStack(process.pid).then(() => stopServices()),
    say,
  });

  try {
    // Only a warning: the tools run on more than the apps are tested on, and a newcomer should
    // see why something odd happens, not be stopped.
    const nodeWarning = nodeSupport(process.version, enginesNode(root));
    if (nodeWarning) process.stderr.write(`${nodeWarning}\n`);
    // Another live npm start of this folder, whatever servers it runs on (its own or given).
    const running = await readRunningStack();
    if (running && running.pid !== process.pid) {
      throw new Error(
        `the stack of ${devDataLabel()} is already running, started by pid ${running.pid} ` +
          '(another npm start?): stop that one first, or set LOCAL_STATE_DIR to run a second stack',
      );
    }
    say('starting Postgres and Redis...');
    // LOCAL_REPLICA=1: a streaming replica too, which the worker backfills from (docs/REPLICA.md).
    const services = await withLocalReplica(await startDevServices({ useRunningStack: false }));
    stopServices = services.stop;
    // Another live `npm start` (or seed) owns these servers and will stop them when it ends:
    // running a second stack on them would lose its servers under it.
    for (const [name, origin] of [
      ['Postgres', services.postgres],
      ['Redis', services.redis],
    ] as const) {
      if (
        origin.origin === 'reused' &&
        origin.startedBy &&
        origin.startedBy !== process.pid &&
        isAlive(origin.startedBy)
      ) {
        throw new Error(
          `${name} on ${origin.dataDir} is already running, started by pid ${origin.startedBy} ` +
            '(another npm start?): stop that one first, or set LOCAL_STATE_DIR to run a second stack',
        );
      }
    }
    if (supervisor.stopping) return;
    // The operator console, served by the API at /console.
    if (await ensureConsoleBuilt(root)) say('built the console');
    say('migrating...');
    const tenants = await prepareDatabase(services.databaseUrl);
    const host = process.env.HOST ?? '127.0.0.1';
    const port = process.env.PORT ?? String(await findFreePort(3000));
    const env = {
      ...process.env,
      DATABASE_URL: services.databaseUrl,
      REDIS_URL: services.redisUrl,
      ...services.replicaEnv,
      HOST: host,
      PORT: port,
      CRM_DATABASE_URL: await crmDatabaseUrl(services.databaseUrl),
      // Development: a status poll every second should not scroll the summary away.
      REQUEST_LOG_LEVEL: process.env.REQUEST_LOG_LEVEL ?? 'debug',
    };
    if (supervisor.stopping) return;
    const apps = presentApps(root);
    if (production) {
      // Always rebuilt (esbuild alone, seconds): a compiled entry older than its sources never runs.
      say('compiling the apps...');
      await compileApps(root, apps);
      if (supervisor.stopping) return;
    }
    const how = production ? 'compiled, plain node' : 'TypeScript through tsx';
    say(`starting ${apps.map((a) => a.name).join(', ')} (${how})...`);
    for (const app of apps) supervisor.startApp(app.name, nodeArgs(app, production), root, env);

    const apiUrl = apps.some((a) => a.name === 'api')
      ? `http://${host.includes(':') ? `[${host}]` : host}:${port}`
      : undefined;
    if (apiUrl) await waitForHealth(apiUrl, () => supervisor.stopping);
    if (supervisor.stopping) return;

    // Written once everything answers, so whoever finds it can use the stack at once.
    await writeRunningStack({
      pid: process.pid,
      databaseUrl: services.databaseUrl,
      redisUrl: services.redisUrl,
      apiUrl,
    });
    if (supervisor.stopping) return;
    const keyFromEnv = Boolean(process.env.ADMIN_API_KEY);
    const dataLabel = devDataLabel();
    for (const line of summaryLines({
      databaseUrl: services.databaseUrl,
      redisUrl: services.redisUrl,
      postgres: describeOrigin(services.postgres, dataLabel),
      redis: describeOrigin(services.redis, dataLabel),
      demo: tenants.demo,
      demoCreated: tenants.demoCreated,
      otherTenants: tenants.others,
      moreTenants: tenants.moreTenants,
      apps: supervisor.apps.map((a) => ({ name: a.name, pid: a.child.pid })),
      apiUrl,
      adminKeyHint: keyFromEnv ? 'from ADMIN_API_KEY' : DEV_ADMIN_API_KEY,
      curlKey: keyFromEnv ? '$ADMIN_API_KEY' : DEV_ADMIN_API_KEY,
      supervisorPid: process.pid,
    })) {
      say(line);
    }
    // Stay up until a signal, even when every server is external and no app runs yet.
    setInterval(() => {}, 1 << 30);
  } catch (error) {
    process.stderr.write(`error: ${error instanceof Error ? error.message : String(error)}\n`);
    if (supervisor.apps.length) await supervisor.stop('start failed', 1);
    await stopServices();
    process.exit(1);
  }
});
