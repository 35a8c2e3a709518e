/**
 * The API of the `npm start` running in this checkout, so `hsync` in a second terminal talks to
 * it without the `export HSYNC_API_URL=…` line (npm start takes the first free port from 3000).
 * npm start records itself in `<state folder>/dev/running-stack.json` once its API answers, and
 * removes the record when it stops (scripts/lib/running-stack.ts owns the file). The CLI reads it
 * here, with node's own modules only: its production install has no local-stack, and only a
 * checkout has an npm start to find. A record whose pid is gone (a SIGKILLed npm start) is ignored.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

/** The checkout holding `from`: the nearest folder upwards whose package.json has workspaces. */
function workspaceRoot(from: string): string | undefined {
  for (let dir = resolve(from); ; dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    try {
      if (existsSync(manifest) && JSON.parse(readFileSync(manifest, 'utf8')).workspaces) return dir;
    } catch {
      // an unreadable manifest is not a checkout's root; look further up
    }
    if (dirname(dir) === dir) return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The running npm start's API URL, or undefined when none runs for this folder. */
export function runningApiUrl(env: NodeJS.ProcessEnv, cwd: string): string | undefined {
  // The state folder as npm start chooses it: LOCAL_STATE_DIR, else `.data` in the checkout.
  const checkout = env.LOCAL_STATE_DIR ? undefined : workspaceRoot(cwd);
  const stateRoot = env.LOCAL_STATE_DIR ?? (checkout && join(checkout, '.data'));
  if (!stateRoot) return undefined;
  let record: { pid?: unknown; apiUrl?: unknown };
  try {
    record = JSON.parse(readFileSync(join(stateRoot, 'dev', 'running-stack.json'), 'utf8'));
  } catch {
    return undefined; // no record, or one cut short: no npm start to use
  }
  const { pid, apiUrl } = record;
  if (typeof pid !== 'number' || !Number.isInteger(pid) || pid <= 0) return undefined;
  return typeof apiUrl === 'string' && alive(pid) ? apiUrl : undefined;
}
