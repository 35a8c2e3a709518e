/**
 * The CLI is tested as a user runs it: the real API and worker as processes on a fresh database,
 * and `hsync` as a process, judged by its output and exit code.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { seedTenant } from '@historical-sync/db';
import { createTestDatabase, type TestDatabase } from '@historical-sync/db/testing';
import { findFreePort } from '@historical-sync/local-stack';

export const ROOT = fileURLToPath(new URL('../../..', import.meta.url));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The environment without the CLI's own settings, so the developer's shell cannot leak in. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.HSYNC_API_URL;
  delete env.ADMIN_API_KEY;
  delete env.HSYNC_API_KEY;
  return env;
}

/** Runs `hsync <args>` to its end (killed after `timeoutMs`, which fails the caller's assertion). */
export async function hsync(
  args: string[],
  env: Record<string, string> = {},
  timeoutMs = 30_000,
): Promise<CliResult> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'apps/cli/src/main.ts', ...args], {
    cwd: ROOT,
    env: { ...cleanEnv(), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(timer);
  return { code, stdout, stderr };
}

interface Service {
  name: string;
  child: ChildProcess;
  output(): string;
  exited: Promise<unknown>;
}

/** An app's entry point (`apps/api/src/main.ts`) as its own process, as a container runs it. */
function startService(name: string, env: NodeJS.ProcessEnv): Service {
  const child = spawn(process.execPath, ['--import', 'tsx', `apps/${name}/src/main.ts`], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const append = (chunk: Buffer) => {
    output += chunk.toString();
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  return { name, child, output: () => output, exited: once(child, 'exit') };
}

/** SIGTERM (graceful stop), then SIGKILL when it has not exited within `graceMs`. */
async function stopService(service: Service, graceMs = 5_000): Promise<void> {
  const { child } = service;
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await service.exited;
  clearTimeout(timer);
}

export interface Stack {
  tenantId: string;
  /** Environment that points `hsync` at this stack's API. */
  cliEnv: Record<string, string>;
  seeded: { organizations: number; memberships: number; creditAllocations: number };
  /** The stack's database, to seed more or to break a row. */
  db: TestDatabase['db'];
  stop(): Promise<void>;
}

/**
 * A fresh database with one seeded tenant, and the API and a worker on it, with queue and stream
 * names of their own so test files sharing one Redis never meet.
 */
export async function startStack(label: string): Promise<Stack> {
  const redisUrl = process.env.REDIS_URL;
  if (!redisUrl) throw new Error('REDIS_URL is not set: run tests with `npm test` from the root.');
  const services: Service[] = [];
  let database: TestDatabase | undefined;
  const stop = async () => {
    await Promise.all(services.map((service) => stopService(service)));
    await database?.destroy();
  };
  try {
    database = await createTestDatabase(label);
    const seeded = { organizations: 20, memberships: 40, creditAllocations: 10 };
    const { tenantId } = await seedTenant(database.db, {
      tenantName: `cli-${label}`,
      ...seeded,
      app: 'crm',
      seed: 1,
    });
    const port = await findFreePort();
    const unique = `t${randomBytes(4).toString('hex')}`;
    const adminKey = `cli-test-key-${randomBytes(8).toString('hex')}`;
    const env = {
      ...cleanEnv(),
      DATABASE_URL: database.url,
      REDIS_URL: redisUrl,
      QUEUE_PREFIX: unique,
      STREAM_PREFIX: `${unique}:`,
      PORT: String(port),
      HOST: '127.0.0.1',
      ADMIN_API_KEY: adminKey,
      LOG_LEVEL: 'warn',
      // Several pages per resource, so progress moves in steps.
      BACKFILL_PAGE_SIZE: '5',
      // Source protection would slow these pages for the other suites' load on a shared test
      // machine; it has its own tests (packages/backfill/test/source-protection.test.ts).
      BACKFILL_SOURCE_PROTECTION: 'off',
    };
    services.push(startService('api', env), startService('worker', env));
    const apiUrl = `http://127.0.0.1:${port}`;
    await waitForHealth(apiUrl, services[0] as Service);
    return {
      tenantId,
      cliEnv: { HSYNC_API_URL: apiUrl, ADMIN_API_KEY: adminKey },
      seeded,
      db: database.db,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** LOG_LEVEL=warn hides the "listening" line, so readiness is a 200 from /health. */
async function waitForHealth(apiUrl: string, api: Service, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (api.child.exitCode !== null) throw new Error(`the API exited:\n${api.output()}`);
    const ok = await fetch(`${apiUrl}/health`).then(
      (response) => response.ok,
      () => false,
    );
    if (ok) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`the API did not answer /health within ${timeoutMs} ms:\n${api.output()}`);
}
