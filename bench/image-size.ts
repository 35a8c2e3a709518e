/**
 * `npm run bench:image-size`: what the image's runtime stage holds, measured without Docker. Lays
 * out in a temporary folder the files each runtime stage copies, installing the production
 * dependencies with the same `npm ci` as the Dockerfile, and sizes them with `du`:
 *   tsx       the image before the compiled build: every production dependency, tsx and esbuild
 *             beside them, and the TypeScript of every workspace and script;
 *   compiled  the Dockerfile's runtime stage now: the production dependencies of the root and of
 *             the apps that run in it, the manifests, and the compiled output of `npm run build`.
 * The base image (node:24-bookworm-slim) is the same under both and not counted. Then every
 * compiled entry is started from the compiled layout with plain node, so that a dependency the
 * layout misses shows up as a failure here: each must load and stop on a bad setting (exit 2).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { findWorkspaceRoot } from '@historical-sync/local-stack';
import { APP_ENTRIES, MIGRATE_ENTRY } from '../scripts/lib/apps';

const root = findWorkspaceRoot();
const run = (command: string, args: string[], cwd: string) =>
  execFileSync(command, args, { cwd, stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });
const duMb = (path: string) => Number(run('du', ['-sk', path], root).split('\t')[0]) / 1024;

/** The workspace manifests and the lockfile: the Dockerfile's `manifests` stage. */
function copyManifests(to: string) {
  for (const file of ['package.json', 'package-lock.json'])
    cpSync(join(root, file), join(to, file));
  for (const group of ['apps', 'packages']) {
    for (const name of readdirSync(join(root, group))) {
      const manifest = join(group, name, 'package.json');
      if (!existsSync(join(root, manifest))) continue;
      mkdirSync(join(to, group, name), { recursive: true });
      cpSync(join(root, manifest), join(to, manifest));
    }
  }
}

/** Files git tracks under `paths` (the build context, which leaves out node_modules and dist). */
function copyTracked(to: string, paths: string[]) {
  for (const file of run('git', ['ls-files', '--', ...paths], root)
    .split('\n')
    .filter(Boolean)) {
    mkdirSync(dirname(join(to, file)), { recursive: true });
    cpSync(join(root, file), join(to, file));
  }
}

/** The Dockerfile's prod-deps stage: its shell command, read from the Dockerfile itself. */
function prodInstallCommand(): string {
  const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8').replace(/\\\n/g, ' ');
  const line = dockerfile.split('\n').find((l) => /^RUN npm ci --omit=dev/.test(l.trim()));
  if (!line) throw new Error('no `RUN npm ci --omit=dev` in the Dockerfile');
  return line.trim().replace(/^RUN /, '');
}

const work = mkdtempSync(join(tmpdir(), 'image-size-'));
try {
  process.stdout.write('npm run build...\n');
  run('npm', ['run', 'build'], root);

  // Before: the image that ran TypeScript through tsx.
  const tsx = join(work, 'tsx');
  copyManifests(tsx);
  run('npm', ['ci', '--omit=dev', '--no-audit', '--no-fund'], tsx);
  for (const dep of ['tsx', 'esbuild', '@esbuild']) {
    if (existsSync(join(root, 'node_modules', dep)))
      cpSync(join(root, 'node_modules', dep), join(tsx, 'node_modules', dep), { recursive: true });
  }
  copyTracked(tsx, ['tsconfig.json', 'tsconfig.base.json', 'packages', 'apps', 'scripts']);

  // After: the runtime stage of the Dockerfile.
  const compiled = join(work, 'compiled');
  copyManifests(compiled);
  run('sh', ['-c', prodInstallCommand()], compiled);
  for (const out of [
    'dist',
    ...readdirSync(join(root, 'apps')).map((a) => join('apps', a, 'dist')),
  ]) {
    if (existsSync(join(root, out)))
      cpSync(join(root, out), join(compiled, out), { recursive: true });
  }
  for (const tool of ['tsx', 'esbuild', 'typescript', '@typescript']) {
    if (existsSync(join(compiled, 'node_modules', tool)))
      throw new Error(`the runtime stage holds ${tool}`);
  }

  // Every compiled entry loads from the compiled layout alone.
  const entries = [...APP_ENTRIES.map((a) => a.compiled), MIGRATE_ENTRY.compiled];
  for (const entry of entries) {
    const result = spawnSync(process.execPath, [entry], {
      cwd: compiled,
      env: { PATH: process.env.PATH, LOG_LEVEL: 'loud', DATABASE_URL: 'not a url' },
      encoding: 'utf8',
    });
    if (result.status !== 2 && result.status !== 1)
      throw new Error(`${entry} did not load: exit ${result.status}\n${result.stderr}`);
    if (/ERR_MODULE_NOT_FOUND|Cannot find (module|package)/.test(result.stderr))
      throw new Error(`${entry} misses a module:\n${result.stderr}`);
  }

  const sizes = (dir: string) => ({
    total: duMb(dir),
    nodeModules: duMb(join(dir, 'node_modules')),
  });
  const before = sizes(tsx);
  const after = sizes(compiled);
  const mb = (n: number) => `${n.toFixed(1)} MB`;
  process.stdout.write(
    [
      '',
      '| runtime stage (without the base image) | node_modules | app files | total |',
      '| --- | --- | --- | --- |',
      `| before: TypeScript through tsx | ${mb(before.nodeModules)} | ${mb(before.total - before.nodeModules)} | ${mb(before.total)} |`,
      `| after: compiled, plain node | ${mb(after.nodeModules)} | ${mb(after.total - after.nodeModules)} | ${mb(after.total)} |`,
      '',
      JSON.stringify({ beforeMb: before, afterMb: after }),
      '',
    ].join('\n'),
  );
} finally {
  rmSync(work, { recursive: true, force: true });
}
