/**
 * `npm start`: brings the whole system up on this machine. Starts Postgres and Redis unless
 * DATABASE_URL / REDIS_URL are set, migrates, seeds a small demo tenant into an empty database,
 * then runs every app until Ctrl-C / SIGTERM (a second signal forces the exit).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createDb, migrateToLatest, seedTenant } from '@historical-sync/db';
import { findFreePort, findWorkspaceRoot } from '@historical-sync/local-stack';
import { redactUrl } from '@historical-sync/runtime';
import { sql } from 'kysely';
import { presentApps } from './lib/apps';
import { runMain, startDevServices } from './lib/dev-services';

const DEMO_TENANT = 'demo';
/** Development default of the API's ADMIN_API_KEY (apps/api/src/config.ts). */
const DEV_ADMIN_API_KEY = 'dev-admin-key';
const SHUTDOWN_TIMEOUT_MS = 20_000;

const say = (line = '') => process.stdout.write(`${line}\n`);

async function prepareDatabase(databaseUrl: string) {
  const db = createDb({ connectionString: databaseUrl, maxConnections: 1 });
  try {
    await migrateToLatest(db);
    const anyTenant = await db.selectFrom('tenants').select('id').limit(1).executeTakeFirst();
    if (anyTenant) return { seeded: false, tenant: undefined };
    // The spec's example: 5 organizations, 10 memberships, 1 credit allocation for crm.
    const tenant = await seedTenant(db, {
      tenantName: DEMO_TENANT,
      organizations: 5,
      memberships: 10,
      creditAllocations: 1,
      app: 'crm',
      seed: 1,
    });
    return { seeded: true, tenant };
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

async function waitForHealth(apiUrl: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ok = await fetch(`${apiUrl}/health`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`the API did not answer at ${apiUrl}/health within ${timeoutMs / 1000}s`);
}

runMain(async () => {
  const root = findWorkspaceRoot();
  const services = await startDevServices();
  const children: ChildProcess[] = [];
  let stopping = false;

  const shutdown = async (code: number) => {
    if (stopping) return;
    stopping = true;
    say('stopping...');
    await Promise.all(
      children.map(async (child) => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = once(child, 'exit');
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), SHUTDOWN_TIMEOUT_MS);
        await exited;
        clearTimeout(timer);
      }),
    );
    await services.stop();
    say('stopped');
    process.exit(code);
  };
  const onSignal = () => {
    if (stopping) {
      // Second signal: do not wait for anyone.
      for (const child of children) child.kill('SIGKILL');
      void services.stop().finally(() => process.exit(130));
      return;
    }
    void shutdown(0);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  try {
    const { seeded, tenant } = await prepareDatabase(services.databaseUrl);
    const host = process.env.HOST ?? '127.0.0.1';
    const port = process.env.PORT ?? String(await findFreePort(3000));
    const env = {
      ...process.env,
      DATABASE_URL: services.databaseUrl,
      REDIS_URL: services.redisUrl,
      HOST: host,
      PORT: port,
      CRM_DATABASE_URL: await crmDatabaseUrl(services.databaseUrl),
    };
    for (const app of presentApps(root)) {
      const child = spawn(process.execPath, ['--import', 'tsx', app.entry], {
        cwd: root,
        env,
        stdio: 'inherit',
      });
      child.once('exit', (code, signal) => {
        if (stopping) return;
        process.stderr.write(
          `error: ${app.name} exited (${signal ?? code}); stopping everything\n`,
        );
        void shutdown(1);
      });
      children.push(child);
    }

    const apiUrl = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
    if (presentApps(root).some((a) => a.name === 'api')) await waitForHealth(apiUrl);

    const origin = (started: boolean) => (started ? 'started here, data in .data/dev' : 'given');
    say('historical-sync is up');
    say(`  Postgres  ${redactUrl(services.databaseUrl)} (${origin(services.started.postgres)})`);
    say(`  Redis     ${redactUrl(services.redisUrl)} (${origin(services.started.redis)})`);
    say(
      seeded
        ? `  Demo tenant "${DEMO_TENANT}" created: ${tenant?.tenantId}`
        : '  Database already had tenants: reusing its data',
    );
    const apps = presentApps(root).map((a) => a.name);
    say(`  Apps      ${apps.join(', ')}`);
    if (apps.includes('api')) {
      say(
        `  API       ${apiUrl} (admin key: ${process.env.ADMIN_API_KEY ? 'from ADMIN_API_KEY' : DEV_ADMIN_API_KEY})`,
      );
      if (tenant) {
        say(
          `  Try       curl -H 'authorization: Bearer ${process.env.ADMIN_API_KEY ? '$ADMIN_API_KEY' : DEV_ADMIN_API_KEY}' ` +
            `${apiUrl}/admin/organizations/${tenant.tenantId}/applications/crm/sync-status`,
        );
      }
    }
    say('Press Ctrl-C to stop.');
    // Stay up until a signal, even when every server is external and no app runs yet.
    setInterval(() => {}, 1 << 30);
  } catch (error) {
    process.stderr.write(`error: ${error instanceof Error ? error.message : String(error)}\n`);
    await shutdown(1);
  }
});
