/**
 * Who started the server that uses a data folder, kept beside its data, so a second command on
 * the same folder can say truthfully whose server it reuses (or refuse) instead of opening the
 * folder with a second server.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface Owner {
  /** The process that started the server (an `npm start`, `npm run seed`, a test run). */
  startedBy: number;
  port: number;
}

const FILE = 'started-by.json';

export async function writeOwner(dataDir: string, owner: Owner): Promise<void> {
  await writeFile(join(dataDir, FILE), `${JSON.stringify(owner)}\n`);
}

export async function readOwner(dataDir: string): Promise<Owner | undefined> {
  try {
    const parsed = JSON.parse(await readFile(join(dataDir, FILE), 'utf8')) as Partial<Owner>;
    if (typeof parsed.startedBy === 'number' && typeof parsed.port === 'number') {
      return { startedBy: parsed.startedBy, port: parsed.port };
    }
  } catch {
    // no file, or one cut short: nobody is known to own the folder
  }
  return undefined;
}

/** True while `pid` names a live process (EPERM: alive, owned by another user). */
export function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The pid in a server's pid file (Redis's `--pidfile`, line 1 of Postgres's postmaster.pid). */
export async function readPidFile(path: string): Promise<number | undefined> {
  try {
    const pid = Number((await readFile(path, 'utf8')).split('\n')[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}
