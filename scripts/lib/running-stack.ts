/**
 * Where a running `npm start` can be found by the other commands of the same folder. Once its API
 * answers, npm start writes `running-stack.json` into its state folder (`.data/dev`, or
 * `$LOCAL_STATE_DIR/dev`): its pid and the URLs of its Postgres, Redis and API. `npm run seed`,
 * `npm run db:migrate` and `hsync` read it, so they talk to that stack even when it runs on
 * servers of its own (DATABASE_URL / REDIS_URL given to npm start) or on a port other than 3000.
 *
 * The file outlives an npm start that is SIGKILLed, so a reader trusts it only while its pid is
 * alive. The CLI reads the same file with a reader of its own (apps/cli/src/running-stack.ts):
 * its production install has no local-stack, and only a checkout has an npm start to find.
 */
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isAlive, localStateDir } from '@historical-sync/local-stack';

export const RUNNING_STACK_FILE = 'running-stack.json';

export interface RunningStack {
  /** The npm start (its supervisor) that owns the stack. */
  pid: number;
  databaseUrl: string;
  redisUrl: string;
  /** Absent when npm start runs without the API (a checkout without apps/api). */
  apiUrl?: string | undefined;
}

/** The state folder npm start and the root commands share. */
export function devStateDir(): string {
  return localStateDir('dev');
}

/**
 * Records the stack. Written to a temporary file and renamed, so a reader never sees half of it;
 * readable by its owner only, as DATABASE_URL may carry a password.
 */
export async function writeRunningStack(stack: RunningStack, stateDir = devStateDir()) {
  // Missing when npm start was given both servers: nothing else writes there then.
  await mkdir(stateDir, { recursive: true });
  const path = join(stateDir, RUNNING_STACK_FILE);
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, `${JSON.stringify(stack)}\n`, { mode: 0o600 });
  await rename(temporary, path);
}

/** The running npm start of this folder, or undefined when none runs (no file, or a dead pid). */
export async function readRunningStack(
  stateDir = devStateDir(),
): Promise<RunningStack | undefined> {
  let parsed: Partial<RunningStack>;
  try {
    parsed = JSON.parse(await readFile(join(stateDir, RUNNING_STACK_FILE), 'utf8'));
  } catch {
    return undefined;
  }
  if (
    typeof parsed.pid !== 'number' ||
    typeof parsed.databaseUrl !== 'string' ||
    typeof parsed.redisUrl !== 'string' ||
    !isAlive(parsed.pid)
  ) {
    return undefined;
  }
  return {
    pid: parsed.pid,
    databaseUrl: parsed.databaseUrl,
    redisUrl: parsed.redisUrl,
    apiUrl: typeof parsed.apiUrl === 'string' ? parsed.apiUrl : undefined,
  };
}

/** Removes the record, if it is still `pid`'s (a later npm start may have replaced it). */
export async function removeRunningStack(pid: number, stateDir = devStateDir()): Promise<void> {
  const path = join(stateDir, RUNNING_STACK_FILE);
  try {
    const recorded = JSON.parse(await readFile(path, 'utf8')) as Partial<RunningStack>;
    if (recorded.pid !== pid) return;
  } catch {
    return;
  }
  await rm(path, { force: true });
}
