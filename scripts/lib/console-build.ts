/**
 * Builds the operator console (apps/console) when its build is missing or older than any of its
 * sources: `npm start` and `npm test` serve it, and a Vite build takes about a second. Its sources
 * are its own and those of the workspace packages it depends on, directly or through another
 * (the client and the contracts): Vite bundles them into the page, so a change there is a change
 * to the console.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

function newestChange(path: string): number {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  let newest = stat.mtimeMs;
  for (const entry of readdirSync(path)) newest = Math.max(newest, newestChange(join(path, entry)));
  return newest;
}

const dependenciesOf = (dir: string): string[] =>
  Object.keys(
    (
      JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
        dependencies?: Record<string, string>;
      }
    ).dependencies ?? {},
  );

/** The folders of packages/ the console's page is bundled from: its workspace dependencies. */
function bundledPackages(root: string, app: string): string[] {
  const packages = join(root, 'packages');
  const byName = new Map<string, string>();
  for (const entry of existsSync(packages) ? readdirSync(packages) : []) {
    const manifest = join(packages, entry, 'package.json');
    if (!existsSync(manifest)) continue;
    byName.set((JSON.parse(readFileSync(manifest, 'utf8')) as { name: string }).name, entry);
  }
  const found = new Set<string>();
  const visit = (dir: string) => {
    for (const name of dependenciesOf(dir)) {
      const entry = byName.get(name);
      if (entry === undefined || found.has(entry)) continue;
      found.add(entry);
      visit(join(packages, entry));
    }
  };
  visit(app);
  return [...found].map((entry) => join(packages, entry));
}

/** Whether apps/console/dist is missing or older than the console's sources. */
export function consoleBuildStale(root: string): boolean {
  const app = join(root, 'apps', 'console');
  const built = join(app, 'dist', 'index.html');
  if (!existsSync(built)) return true;
  const sources = [
    ...['src', 'index.html', 'vite.config.ts', 'package.json'].map((name) => join(app, name)),
    ...bundledPackages(root, app).flatMap((dir) => [join(dir, 'src'), join(dir, 'package.json')]),
  ].filter((path) => existsSync(path));
  return Math.max(...sources.map(newestChange)) > statSync(built).mtimeMs;
}

/** Builds the console if stale; true when it built. A failed build throws with Vite's exit code. */
export async function ensureConsoleBuilt(root: string): Promise<boolean> {
  const app = join(root, 'apps', 'console');
  if (!existsSync(join(app, 'package.json')) || !consoleBuildStale(root)) return false;
  const child = spawn(join(root, 'node_modules', '.bin', 'vite'), ['build', '--logLevel', 'warn'], {
    cwd: app,
    stdio: 'inherit',
  });
  const [code] = (await once(child, 'exit')) as [number | null];
  if (code !== 0) throw new Error(`the console's build failed (vite exited with ${code})`);
  return true;
}
