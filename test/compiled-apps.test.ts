/**
 * The production build run as the image runs it: the API and a worker compiled by their build
 * (scripts/lib/bundle.ts) and started with plain `node <dist entry>`, no tsx loader, against the
 * test Postgres and Redis. The API answers /ready and the worker completes a backfill, on the
 * Node running the tests and on the lowest release of each line package.json `engines` supports
 * (test/node-binaries.ts).
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { copyFile, mkdir, mkdtemp, readFile, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createDb, migrateToLatest, seedTenant } from '@historical-sync/db';
import { findFreePort } from '@historical-sync/local-stack';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APP_ENTRIES, compileApps } from '../scripts/lib/apps';
import { bundle } from '../scripts/lib/bundle';
import { ROOT } from './helpers';
import { nodeBinary, testedNodeVersions } from './node-binaries';

const execFileAsync = promisify(execFile);
const TESTED_NODE_VERSIONS = testedNodeVersions();
const auth = { authorization: 'Bearer dev-admin-key', 'content-type': 'application/json' };
const [api, worker] = ['api', 'worker'].map((name) => {
  const app = APP_ENTRIES.find((a) => a.name === name);
  if (!app) throw new Error(`no app ${name}`);
  return app;
}) as [(typeof APP_ENTRIES)[number], (typeof APP_ENTRIES)[number]];

interface Started {
  child: ChildProcess;
  output(): string;
  exited: Promise<[number | null, NodeJS.Signals | null]>;
}

const started: Started[] = [];

/** `<node> <compiled entry>`: nothing else on the command line, no NODE_OPTIONS. */
function startCompiled(node: string, entry: string, env: Record<string, string>): Started {
  const { NODE_OPTIONS: _, ...inherited } = process.env;
  const child = spawn(node, [entry], {
    cwd: ROOT,
    env: { ...inherited, LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const run = {
    child,
    output: () => output,
    exited: once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>,
  };
  started.push(run);
  return run;
}

async function stop(run: Started) {
  run.child.kill('SIGTERM');
  const [code, signal] = await run.exited;
  expect({ code, signal }, run.output()).toEqual({ code: 0, signal: null });
}

describe('compiled apps on plain node', () => {
  const databaseUrl = process.env.DATABASE_URL as string;
  const redisUrl = process.env.REDIS_URL as string;
  const binaries: Record<string, string> = { [process.versions.node]: process.execPath };

  beforeAll(async () => {
    const db = createDb({ connectionString: databaseUrl, maxConnections: 1 });
    await migrateToLatest(db).finally(() => db.destroy());
    await compileApps(ROOT, [api, worker]);
    for (const version of TESTED_NODE_VERSIONS) binaries[version] = await nodeBinary(version);
  }, 300_000);

  afterAll(async () => {
    for (const run of started) {
      if (run.child.exitCode === null && run.child.signalCode === null) {
        run.child.kill('SIGKILL');
        await run.exited;
      }
    }
  });

  it('the compiled entries hold the workspace code and import only installed packages', async () => {
    for (const app of [api, worker]) {
      const code = await readFile(join(ROOT, app.compiled), 'utf8');
      const imports = [...code.matchAll(/^import .* from "([^"]+)";$/gm)].map((m) => m[1]);
      expect(imports.length, app.name).toBeGreaterThan(0);
      for (const specifier of imports) {
        expect(specifier, `${app.name} imports ${specifier}`).not.toMatch(
          /^(\.|@historical-sync\/|tsx|esbuild|typescript)/,
        );
      }
      expect(code).not.toMatch(/\.ts"\)?;$/m);
    }
  });

  it('hsync runs its compiled build where tsx is not installed (an install without dev dependencies)', async () => {
    const cli = join(ROOT, 'apps/cli');
    await bundle({ cwd: cli, entries: ['src/main.ts'] });
    // The CLI's files as a production install lays them out, beside its one dependency, zod.
    const install = await mkdtemp(join(tmpdir(), 'hsync-install-'));
    try {
      for (const file of ['package.json', 'bin/hsync.js', 'dist/main.js']) {
        await mkdir(join(install, file, '..'), { recursive: true });
        await copyFile(join(cli, file), join(install, file));
      }
      await mkdir(join(install, 'node_modules'));
      await symlink(join(ROOT, 'node_modules/zod'), join(install, 'node_modules/zod'));
      const { stdout } = await execFileAsync(
        process.execPath,
        [join(install, 'bin/hsync.js'), '--help'],
        {
          cwd: install,
        },
      );
      expect(stdout).toMatch(/^hsync: command-line client/);
    } finally {
      await rm(install, { recursive: true, force: true });
    }
  });

  it.each([process.versions.node, ...TESTED_NODE_VERSIONS])(
    'Node %s: the API answers /ready and a worker completes a backfill',
    async (version) => {
      const node = binaries[version] as string;
      expect((await execFileAsync(node, ['--version'])).stdout.trim()).toBe(`v${version}`);
      const db = createDb({ connectionString: databaseUrl, maxConnections: 1 });
      const tenant = await seedTenant(db, {
        tenantName: `compiled-${version}`,
        organizations: 3,
        memberships: 4,
        creditAllocations: 1,
        app: 'crm',
        seed: 7,
      }).finally(() => db.destroy());
      // Queues of their own: only this worker can complete the run.
      const port = await findFreePort(3100);
      const env = {
        DATABASE_URL: databaseUrl,
        REDIS_URL: redisUrl,
        QUEUE_PREFIX: `compiled-${version}-${Date.now()}`,
      };
      const apiRun = startCompiled(node, api.compiled, {
        ...env,
        HOST: '127.0.0.1',
        PORT: String(port),
      });
      const apiUrl = `http://127.0.0.1:${port}`;
      await expect
        .poll(
          async () => {
            if (apiRun.child.exitCode !== null) throw new Error(`api exited:\n${apiRun.output()}`);
            return fetch(`${apiUrl}/ready`).then(
              (r) => r.status,
              () => 0,
            );
          },
          { timeout: 60_000, interval: 100 },
        )
        .toBe(200);

      const workerRun = startCompiled(node, worker.compiled, {
        ...env,
        WORKER_ROLES: 'runs,credits,organizations,memberships',
      });
      await expect
        .poll(
          () => {
            if (workerRun.child.exitCode !== null)
              throw new Error(`worker exited:\n${workerRun.output()}`);
            return workerRun.output().includes('"msg":"worker started"');
          },
          { timeout: 60_000, interval: 100 },
        )
        .toBe(true);

      const toggle = await fetch(
        `${apiUrl}/admin/organizations/${tenant.tenantId}/applications/crm/toggle`,
        { method: 'POST', headers: auth, body: JSON.stringify({ isEnabled: true }) },
      );
      expect(toggle.status, await toggle.clone().text()).toBeLessThan(300);
      const { runId } = (await toggle.json()) as { runId: string };
      await expect
        .poll(
          async () => {
            const run = await fetch(
              `${apiUrl}/admin/organizations/${tenant.tenantId}/sync-runs/${runId}`,
              { headers: auth },
            );
            return ((await run.json()) as { status: string }).status;
          },
          { timeout: 60_000, interval: 200 },
        )
        .toBe('completed');

      await stop(workerRun);
      await stop(apiRun);
    },
    180_000,
  );
});
