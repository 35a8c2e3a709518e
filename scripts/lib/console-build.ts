/**
 * Builds the operator console (apps/console) when its build is missing or older than any of its
 * sources: `npm start` and `npm test` serve it, and a Vite build takes about a second.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

function newestChange(path: string): number {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  let newest = stat.mtimeMs;
  for (const entry of readdirSync(path)) newest = Math.max(newest, newestChange(join(path, entry)));
  return newest;
}

/** Whether apps/console/dist is missing or older than the console's sources. */
export function consoleBuildStale(root: string): boolean {
  const app = join(root, 'apps', 'console');
  const built = join(app, 'dist', 'index.html');
  if (!existsSync(built)) return true;
  const sources = ['src', 'index.html', 'vite.config.ts', 'package.json']
    .map((name) => join(app, name))
    .filter((path) => existsSync(path));
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
