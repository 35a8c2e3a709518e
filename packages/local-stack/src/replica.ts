/**
 * A streaming replica of a local Postgres, for tests and `npm start` (LOCAL_REPLICA=1): a base
 * backup of the primary taken with `pg_basebackup -R` (which writes the standby's connection to
 * its primary and its standby.signal), started as a hot standby on a port of its own. Reads on it
 * see the primary's commits once it has replayed them, as a production read replica does.
 */
import { chown, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readOwner, readPidFile, writeOwner } from './owner';
import { findFreePort } from './ports';
import {
  findPostgresBinDir,
  pgIsReady,
  postgresUser,
  type RunningService,
  runningPort,
  serverSettings,
  spawnPostgres,
  usableDataDir,
} from './postgres';
import { execFileAsync, stopChild } from './process';
import { localStateDir } from './state-dir';

export interface ReplicaOptions {
  /**
   * Folder for the replica's data. Whatever a stopped replica left there is replaced by a fresh
   * base backup (a replica is cheap to take again, and an old one may belong to another primary).
   * Default: a new folder in the system's temp directory.
   */
  dataDir?: string;
  /** Port to try first; a free one is chosen when it is taken. */
  preferredPort?: number;
  /**
   * Durability traded for speed (fsync off), and the data deleted on stop. Default: true when
   * `dataDir` is not given.
   */
  ephemeral?: boolean;
}

/**
 * Starts a streaming replica of `primary` (a server this machine can reach for replication, as
 * every server `startPostgres` starts can be). The returned URL names the primary's database on
 * the replica. A replica already running on `dataDir` is reused, like `startPostgres` does.
 */
export async function startReplica(
  primary: Pick<RunningService, 'url'>,
  options: ReplicaOptions = {},
): Promise<RunningService> {
  const binDir = await findPostgresBinDir();
  const runAs = await postgresUser();
  const ephemeral = options.ephemeral ?? options.dataDir === undefined;
  const requestedDir =
    options.dataDir ?? (await mkdtemp(join(tmpdir(), 'historical-sync-replica-')));
  // Possibly another folder, when the postgres user cannot enter the requested one.
  const dataDir = await usableDataDir(requestedDir, runAs);
  const clusterDir = join(dataDir, 'cluster');
  const primaryUrl = new URL(primary.url);
  const urlFor = (port: number) => {
    const url = new URL(primary.url);
    url.hostname = '127.0.0.1';
    url.port = String(port);
    return url.toString();
  };

  const existingPort = await runningPort(clusterDir);
  if (existingPort && (await pgIsReady(binDir, existingPort, 10_000))) {
    const owner = await readOwner(dataDir);
    return {
      url: urlFor(existingPort),
      dataDir,
      owned: false,
      origin: 'reused',
      startedBy: owner?.port === existingPort ? owner.startedBy : undefined,
      pid: await readPidFile(join(clusterDir, 'postmaster.pid')),
      stop: async () => {},
    };
  }

  // A base backup goes into an empty folder; one owned by the user that runs Postgres.
  await rm(clusterDir, { recursive: true, force: true });
  await mkdir(clusterDir, { recursive: true, mode: 0o700 });
  if (runAs) {
    await chown(dataDir, runAs.uid, runAs.gid);
    await chown(clusterDir, runAs.uid, runAs.gid);
  }
  const asUser = runAs ? { uid: runAs.uid, gid: runAs.gid } : {};
  // The replication connection ignores the URL's database; `-c fast` checkpoints at once rather
  // than waiting for the next scheduled checkpoint, which would hold the backup for minutes.
  primaryUrl.pathname = '/postgres';
  await execFileAsync(
    join(binDir, 'pg_basebackup'),
    [
      '-d',
      primaryUrl.toString(),
      '-D',
      clusterDir,
      '-R',
      '-X',
      'stream',
      '-c',
      'fast',
      '--no-sync',
    ],
    { ...asUser, cwd: dataDir },
  );

  const port = await findFreePort(options.preferredPort ?? 0);
  const settings = [
    ...serverSettings(ephemeral),
    'hot_standby=on',
    // The replica tells its primary which rows its queries still read, so a vacuum there does not
    // cancel a page query here (a conflict with recovery).
    'hot_standby_feedback=on',
  ];
  const child = await spawnPostgres({
    binDir,
    clusterDir,
    dataDir,
    port,
    settings,
    runAs,
    what: 'the Postgres replica',
    timeoutMs: 60_000,
  });
  await writeOwner(dataDir, { startedBy: process.pid, port });

  return {
    url: urlFor(port),
    dataDir,
    owned: true,
    origin: 'started',
    startedBy: process.pid,
    pid: await readPidFile(join(clusterDir, 'postmaster.pid')),
    stop: async () => {
      await stopChild(child, 'SIGINT');
      if (!ephemeral) return;
      await rm(dataDir, { recursive: true, force: true });
      await rm(requestedDir, { recursive: true, force: true });
    },
  };
}

/**
 * For `npm start`: with `LOCAL_REPLICA=1`, a replica of the started (or given) Postgres, its URL
 * as the worker's BACKFILL_DATABASE_URL (docs/REPLICA.md), stopped before the servers; otherwise
 * the services as they are. The replica's data lives under the state folder and is taken afresh
 * each start.
 */
export async function withLocalReplica<S extends { databaseUrl: string; stop(): Promise<void> }>(
  services: S,
  env: NodeJS.ProcessEnv = process.env,
): Promise<S & { replicaEnv: { BACKFILL_DATABASE_URL?: string } }> {
  if (env.LOCAL_REPLICA !== '1') return { ...services, replicaEnv: {} };
  const replica = await startReplica(
    { url: services.databaseUrl },
    { dataDir: localStateDir('postgres-replica'), ephemeral: true },
  ).catch(async (error: unknown) => {
    await services.stop(); // never leave the servers running because the replica failed
    throw error;
  });
  return {
    ...services,
    replicaEnv: { BACKFILL_DATABASE_URL: replica.url },
    stop: async () => {
      await replica.stop();
      await services.stop();
    },
  };
}
