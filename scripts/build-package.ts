/**
 * The build of a publishable workspace (`packages/contracts`, `packages/consumer`): compiles src/
 * to ESM with declarations in dist/ and makes dist/ the package to publish (`npm publish dist`,
 * `npm pack dist`): its package.json points `exports` at the compiled files, its README is the
 * workspace's. The workspace's own package.json keeps pointing at src/, since the monorepo runs
 * its TypeScript directly, and stays private, so that only the built package can be published.
 */
import { execFileSync } from 'node:child_process';
import { copyFile, readFile, rm, stat, writeFile } from 'node:fs/promises';

const DIST = 'dist';

interface WorkspaceManifest {
  name: string;
  version: string;
  description?: string;
  exports: Record<string, string>;
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
}

/** `./src/postgres.ts` -> the compiled module and its declarations, relative to dist/. */
function compiled(sourcePath: string): { types: string; default: string } {
  const match = /^\.\/src\/(.+)\.ts$/.exec(sourcePath);
  if (!match) throw new Error(`export ${sourcePath} is not a module under ./src`);
  return { types: `./${match[1]}.d.ts`, default: `./${match[1]}.js` };
}

const source = JSON.parse(await readFile('package.json', 'utf8')) as WorkspaceManifest;
const root = JSON.parse(await readFile('../../package.json', 'utf8')) as {
  engines: Record<string, string>;
};
await rm(DIST, { recursive: true, force: true });
execFileSync('tsc', ['-p', 'tsconfig.build.json'], { stdio: 'inherit' });

const exports = Object.fromEntries(
  Object.entries(source.exports).map(([subpath, target]) => [subpath, compiled(target)]),
);
for (const target of Object.values(exports).flatMap((e) => [e.types, e.default]))
  await stat(`${DIST}/${target}`); // an export the compiler did not produce fails the build

const manifest = {
  name: source.name,
  version: source.version,
  description: source.description,
  type: 'module',
  engines: root.engines,
  exports,
  sideEffects: false,
  dependencies: source.dependencies,
  peerDependencies: source.peerDependencies,
  peerDependenciesMeta: source.peerDependenciesMeta,
};
await writeFile(`${DIST}/package.json`, `${JSON.stringify(manifest, null, 2)}\n`);
await copyFile('README.md', `${DIST}/README.md`);
process.stdout.write(`${source.name}@${source.version}: built to ${DIST}/\n`);
