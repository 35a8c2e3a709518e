/**
 * `npm test`: the whole suite against real Postgres and Redis. Starts one throw-away pair for the
 * run unless DATABASE_URL / REDIS_URL are set, runs every workspace's tests through turbo and the
 * root-level tests, stops the servers, and closes with one "N passed, N failed" line.
 * `npm test -- test/convergence.test.ts` runs only the named root-level test files.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { findWorkspaceRoot, localStateDir, startLocalServices } from '@historical-sync/local-stack';
import { ensureConsoleBuilt } from './lib/console-build';
import { runMain } from './lib/dev-services';

async function run(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  cwd?: string,
): Promise<number> {
  const child = spawn(command, args, { stdio: 'inherit', env, cwd });
  const [code, signal] = (await once(child, 'exit')) as [number | null, string | null];
  return signal ? 1 : (code ?? 1);
}

async function sumReports(dir: string) {
  const totals = { passed: 0, failed: 0, skipped: 0, files: 0 };
  if (!existsSync(dir)) return totals;
  for (const file of await readdir(dir)) {
    const report = JSON.parse(await readFile(join(dir, file), 'utf8'));
    totals.passed += report.numPassedTests ?? 0;
    // A failed test also fails the suites around it; a suite counts only when it failed with no
    // failed test (a file that did not load, a failing hook).
    totals.failed += report.numFailedTests || report.numFailedTestSuites || 0;
    totals.skipped += (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
    totals.files += 1;
  }
  return totals;
}

runMain(async () => {
  const root = findWorkspaceRoot();
  // The API serves the operator console's build; its browser test needs a current one.
  await ensureConsoleBuilt(root);
  const stateDir = localStateDir(`test-${process.pid}`);
  const reportDir = join(stateDir, 'reports');
  const services = await startLocalServices({
    stateDir: join(stateDir, 'services'),
    databaseUrl: process.env.DATABASE_URL,
    redisUrl: process.env.REDIS_URL,
    ephemeral: true,
  });
  const stopOnSignal = () => void services.stop().finally(() => process.exit(130));
  process.once('SIGINT', stopOnSignal);
  process.once('SIGTERM', stopOnSignal);

  let exitCode = 1;
  try {
    await mkdir(reportDir, { recursive: true });
    const env = {
      ...process.env,
      DATABASE_URL: services.databaseUrl,
      REDIS_URL: services.redisUrl,
      TEST_REPORT_DIR: reportDir,
      TURBO_TELEMETRY_DISABLED: '1',
      FORCE_COLOR: process.env.FORCE_COLOR ?? (process.stdout.isTTY ? '1' : '0'),
    };
    const bin = (name: string) => join(root, 'node_modules', '.bin', name);
    // Two at a time: the machine this must fit has two cores, and each vitest runs files in parallel.
    // `npm test -- <test files>` runs just those (e.g. the convergence test): root files from the
    // root, a workspace's files (apps/api/test/load.test.ts) from that workspace.
    const only = process.argv.slice(2);
    let exitCodes: number[];
    if (only.length) {
      const byDir = new Map<string, string[]>();
      for (const file of only) {
        const workspace = file.match(/^((?:apps|packages)\/[^/]+)\/(.+)$/);
        const dir = workspace ? join(root, workspace[1] as string) : root;
        byDir.set(dir, [...(byDir.get(dir) ?? []), workspace ? (workspace[2] as string) : file]);
      }
      exitCodes = [];
      for (const [dir, files] of byDir) {
        exitCodes.push(
          // From the workspace's folder: its report is named after its package, so two
          // workspaces' reports do not overwrite each other.
          await run(
            bin('vitest'),
            ['run', '--configLoader', 'runner', '--root', dir, ...files],
            env,
            dir,
          ),
        );
      }
    } else {
      exitCodes = [
        await run(bin('turbo'), ['run', 'test', '--concurrency=2', '--continue'], env),
        await run(bin('vitest'), ['run', '--configLoader', 'runner'], env),
      ];
    }
    const failedRun = exitCodes.find((code) => code !== 0) ?? 0;
    const totals = await sumReports(reportDir);
    exitCode = failedRun || (totals.failed > 0 ? 1 : 0);
    if (totals.files === 0) exitCode = 1;
    process.stdout.write(
      `\n${totals.files} test reports\ntests: ${totals.passed} passed, ${totals.failed} failed` +
        `${totals.skipped ? `, ${totals.skipped} skipped` : ''}\n`,
    );
  } finally {
    await services.stop();
    await rm(stateDir, { recursive: true, force: true });
  }
  process.exit(exitCode);
});
