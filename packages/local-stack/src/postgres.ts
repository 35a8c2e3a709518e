import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chown, mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { aptInstall } from './apt';
import { isAlive, readOwner, readPidFile, writeOwner } from './owner';
import { findFreePort } from './ports';
import { commandExists, execFileAsync, isRoot, sleep, spawnServer, stopChild } from './process';

export interface PostgresOptions {
  /** Folder for the cluster's data; created (initdb) when it holds none yet. */
  dataDir: string;
  /** Port to try first; a free one is chosen when it is taken. 0 = any free port. */
  preferredPort?: number;
  /** Throw-away cluster: durability traded for speed (fsync off), data deleted on stop. */
  ephemeral?: boolean;
  /** Database created on start (if missing) and named in the returned URL. */
  database: string;
}

export interface RunningService {
  url: string;
  /** Where a started server keeps its data (absent for a server given by URL). */
  dataDir?: string;
  /** True when this process started the server and so must stop it. */
  owned: boolean;
  /**
   * `started` by this process; `reused`: already running on the data folder, started by
   * `startedBy`; `given` by URL.
   */
  origin: 'started' | 'reused' | 'given';
  /** The process that started the server, when known. */
  startedBy?: number | undefined;
  /** The server's own pid, when it runs on this machine. */
  pid?: number | undefined;
  stop(): Promise<void>;
}

const INSTALL_HINT =
  'PostgreSQL server binaries (initdb, postgres) were not found. Install them ' +
  '(Debian/Ubuntu: apt-get install postgresql; macOS: brew install postgresql@16), ' +
  'set POSTGRES_BIN_DIR to their folder, or set DATABASE_URL to an existing server.';

/** Finds a folder holding `initdb` and `postgres`, installing Debian's package as root if needed. */
export async function findPostgresBinDir(): Promise<string> {
  const found = await locatePostgresBinDir();
  if (found) return found;
  await aptInstall(['postgresql'], INSTALL_HINT);
  const installed = await locatePostgresBinDir();
  if (!installed) throw new Error(INSTALL_HINT);
  return installed;
}

async function locatePostgresBinDir(): Promise<string | undefined> {
  const candidates: string[] = [];
  if (process.env.POSTGRES_BIN_DIR) candidates.push(process.env.POSTGRES_BIN_DIR);
  // Debian keeps server binaries off PATH, one folder per major version: prefer the newest.
  const debianRoot = '/usr/lib/postgresql';
  if (existsSync(debianRoot)) {
    const versions = (await readdir(debianRoot)).sort((a, b) => Number(b) - Number(a));
    candidates.push(...versions.map((v) => join(debianRoot, v, 'bin')));
  }
  if (await commandExists('pg_config')) {
    const { stdout } = await execFileAsync('pg_config', ['--bindir']);
    candidates.push(stdout.trim());
  }
  if (await commandExists('postgres')) {
    const { stdout } = await execFileAsync('sh', ['-c', 'dirname "$(command -v postgres)"']);
    candidates.push(stdout.trim());
  }
  return candidates.find(
    (dir) => existsSync(join(dir, 'postgres')) && existsSync(join(dir, 'initdb')),
  );
}

interface RunAs {
  uid: number;
  gid: number;
}

/** Postgres refuses to run as root, so a root process runs it as the `postgres` user. */
export async function postgresUser(): Promise<RunAs | undefined> {
  if (!isRoot()) return undefined;
  const lookup = async () => {
    const { stdout: uid } = await execFileAsync('id', ['-u', 'postgres']);
    const { stdout: gid } = await execFileAsync('id', ['-g', 'postgres']);
    return { uid: Number(uid.trim()), gid: Number(gid.trim()) };
  };
  try {
    return await lookup();
  } catch {
    await execFileAsync('useradd', ['--system', '--user-group', '--no-create-home', 'postgres']);
    return lookup();
  }
}

/**
 * The data folder must be reachable by the user that runs Postgres. When a root-owned checkout
 * sits under a folder that user cannot enter (e.g. /root), fall back to a stable folder in the
 * system temp directory derived from the requested path, so data is still reused between runs.
 */
export async function usableDataDir(dataDir: string, runAs: RunAs | undefined): Promise<string> {
  await mkdir(dataDir, { recursive: true });
  if (!runAs) return dataDir;
  const probe = await execFileAsync('test', ['-x', dataDir], { uid: runAs.uid, gid: runAs.gid })
    .then(() => true)
    .catch(() => false);
  if (probe) return dataDir;
  const digest = createHash('sha256').update(dataDir).digest('hex').slice(0, 12);
  const fallback = join(tmpdir(), `historical-sync-postgres-${digest}`);
  await mkdir(fallback, { recursive: true });
  return fallback;
}

export async function runningPort(dataDir: string): Promise<number | undefined> {
  // postmaster.pid: line 1 is the pid, line 4 the port. A live pid means a server owns this folder.
  try {
    const lines = (await readFile(join(dataDir, 'postmaster.pid'), 'utf8')).split('\n');
    const pid = Number(lines[0]);
    const port = Number(lines[3]);
    return isAlive(pid) ? port : undefined;
  } catch {
    return undefined;
  }
}

export async function pgIsReady(binDir: string, port: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      await execFileAsync(join(binDir, 'pg_isready'), [
        '-q',
        '-h',
        '127.0.0.1',
        '-p',
        String(port),
      ]);
      return true;
    } catch {
      await sleep(100);
    }
  }
  return false;
}

async function createDatabaseIfMissing(binDir: string, port: number, database: string) {
  const psql = [join(binDir, 'psql'), '-h', '127.0.0.1', '-p', String(port), '-U', 'postgres'];
  const [command, ...base] = psql as [string, ...string[]];
  const { stdout } = await execFileAsync(command, [
    ...base,
    '-d',
    'postgres',
    '-tAc',
    `SELECT 1 FROM pg_database WHERE datname = '${database.replaceAll("'", "''")}'`,
  ]);
  if (stdout.trim() === '1') return;
  await execFileAsync(command, [
    ...base,
    '-d',
    'postgres',
    '-c',
    `CREATE DATABASE "${database.replaceAll('"', '""')}"`,
  ]);
}

/**
 * The `-c` settings of a local server, primary or replica: a hot standby refuses to start with a
 * lower `max_connections` (and some others) than its primary has, so both take them from here.
 */
export function serverSettings(ephemeral: boolean): string[] {
  return [
    'listen_addresses=127.0.0.1',
    // No Unix socket: its path would depend on the folder and its length limit.
    'unix_socket_directories=',
    'max_connections=300',
    'shared_buffers=256MB',
    // A streaming replica can be taken of any local server (replica.ts); these are Postgres's
    // defaults, stated because the replica depends on them. initdb's pg_hba.conf already lets
    // 127.0.0.1 connect for replication.
    'wal_level=replica',
    'max_wal_senders=10',
    ...(ephemeral ? ['fsync=off', 'synchronous_commit=off', 'full_page_writes=off'] : []),
  ];
}

export async function startPostgres(options: PostgresOptions): Promise<RunningService> {
  const binDir = await findPostgresBinDir();
  const runAs = await postgresUser();
  const dataDir = await usableDataDir(options.dataDir, runAs);
  const clusterDir = join(dataDir, 'cluster');
  const urlFor = (port: number) =>
    `postgres://postgres@127.0.0.1:${port}/${encodeURIComponent(options.database)}`;

  const existingPort = await runningPort(clusterDir);
  if (existingPort) {
    const pid = await readPidFile(join(clusterDir, 'postmaster.pid'));
    if (!(await pgIsReady(binDir, existingPort, 10_000))) {
      // Postgres's own lock would refuse a second server here anyway; say who holds it.
      throw new Error(
        `${clusterDir} is in use by postgres (pid ${pid}), which does not answer on port ` +
          `${existingPort}; stop that process before starting another`,
      );
    }
    await createDatabaseIfMissing(binDir, existingPort, options.database);
    const owner = await readOwner(dataDir);
    return {
      url: urlFor(existingPort),
      dataDir,
      owned: false,
      origin: 'reused',
      startedBy: owner?.port === existingPort ? owner.startedBy : undefined,
      pid,
      stop: async () => {},
    };
  }

  if (runAs) await chown(dataDir, runAs.uid, runAs.gid);
  const asUser = runAs ? { uid: runAs.uid, gid: runAs.gid } : {};
  if (!existsSync(join(clusterDir, 'PG_VERSION'))) {
    await execFileAsync(
      join(binDir, 'initdb'),
      [
        '-D',
        clusterDir,
        '-U',
        'postgres',
        '--auth=trust',
        '--encoding=UTF8',
        '--locale=C',
        '--no-sync',
      ],
      { ...asUser, cwd: dataDir },
    );
  }

  const port = await findFreePort(options.preferredPort ?? 0);
  const child = await spawnPostgres({
    binDir,
    clusterDir,
    dataDir,
    port,
    settings: serverSettings(options.ephemeral ?? false),
    runAs,
    what: 'Postgres',
    timeoutMs: 30_000,
  });
  await createDatabaseIfMissing(binDir, port, options.database);
  await writeOwner(dataDir, { startedBy: process.pid, port });

  return {
    url: urlFor(port),
    dataDir,
    owned: true,
    origin: 'started',
    startedBy: process.pid,
    pid: await readPidFile(join(clusterDir, 'postmaster.pid')),
    // SIGINT is Postgres's "fast" shutdown: disconnect clients, checkpoint, exit.
    stop: async () => {
      await stopChild(child, 'SIGINT');
      if (options.ephemeral) await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * Starts `postgres` on a cluster directory and waits until it accepts connections; a server that
 * exits or does not answer in time is stopped and its log's last lines thrown.
 */
export async function spawnPostgres(options: {
  binDir: string;
  clusterDir: string;
  dataDir: string;
  port: number;
  settings: readonly string[];
  runAs: Parameters<typeof spawnServer>[0]['runAs'];
  /** What the error calls it: "Postgres", "the Postgres replica". */
  what: string;
  timeoutMs: number;
}): Promise<ReturnType<typeof spawnServer>> {
  const { binDir, clusterDir, dataDir, port, runAs } = options;
  const logPath = join(dataDir, 'postgres.log');
  const child = spawnServer({
    command: join(binDir, 'postgres'),
    args: ['-D', clusterDir, '-p', String(port), ...options.settings.flatMap((s) => ['-c', s])],
    cwd: dataDir,
    runAs,
    logPath,
    orphan: { kind: 'postgres' },
  });
  const ready = await Promise.race([
    pgIsReady(binDir, port, options.timeoutMs),
    new Promise<false>((resolve) => child.once('exit', () => resolve(false))),
  ]);
  if (!ready) {
    await stopChild(child, 'SIGINT');
    const tail = await readFile(logPath, 'utf8').catch(() => '');
    throw new Error(
      `${options.what} did not start; last log lines:\n${tail.split('\n').slice(-15).join('\n')}`,
    );
  }
  return child;
}
