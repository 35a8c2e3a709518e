import { mkdir, readFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { aptInstall } from './apt';
import { isAlive, readOwner, readPidFile, writeOwner } from './owner';
import { findFreePort } from './ports';
import type { RunningService } from './postgres';
import { commandExists, sleep, spawnServer, stopChild } from './process';

export interface RedisOptions {
  dataDir: string;
  preferredPort?: number;
  /** Append-only file on (durable across restarts) or off (throw-away test servers). */
  appendOnly: boolean;
  /** More redis-server arguments, e.g. cluster mode. */
  extraArgs?: string[];
}

const INSTALL_HINT =
  'redis-server was not found on PATH. Install it (Debian/Ubuntu: apt-get install redis-server; ' +
  'macOS: brew install redis) or set REDIS_URL to an existing server.';

export async function findRedisServer(): Promise<string> {
  if (await commandExists('redis-server')) return 'redis-server';
  await aptInstall(['redis-server'], INSTALL_HINT);
  if (await commandExists('redis-server')) return 'redis-server';
  throw new Error(INSTALL_HINT);
}

/** Sends PING over a raw socket so this package needs no Redis client. */
export function ping(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1_000, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (data) => done(data.toString().startsWith('+PONG')));
  });
}

/**
 * Starts redis-server on `dataDir`, or reuses the one already running there (its pid file names
 * a live process that answers on the port its starter recorded). A live server that does not
 * answer is an error naming it: two servers must never write one append-only file.
 */
export async function startRedis(options: RedisOptions): Promise<RunningService> {
  const command = await findRedisServer();
  await mkdir(options.dataDir, { recursive: true });
  const pidFile = join(options.dataDir, 'redis.pid');
  const runningPid = await readPidFile(pidFile);
  if (runningPid && isAlive(runningPid)) {
    const owner = await readOwner(options.dataDir);
    if (owner && (await ping(owner.port))) {
      return {
        url: `redis://127.0.0.1:${owner.port}`,
        dataDir: options.dataDir,
        owned: false,
        origin: 'reused',
        startedBy: owner.startedBy,
        pid: runningPid,
        stop: async () => {},
      };
    }
    throw new Error(
      `${options.dataDir} is in use by redis-server (pid ${runningPid}), which does not answer` +
        `${owner ? ` on port ${owner.port}` : ''}; stop that process before starting another`,
    );
  }
  const port = await findFreePort(options.preferredPort ?? 0);
  const logPath = join(options.dataDir, 'redis.log');
  const child = spawnServer({
    command,
    args: [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--dir',
      options.dataDir,
      '--pidfile',
      pidFile,
      '--save',
      '',
      '--appendonly',
      options.appendOnly ? 'yes' : 'no',
      '--appendfsync',
      'everysec',
      '--protected-mode',
      'no',
      '--daemonize',
      'no',
      '--loglevel',
      'warning',
      ...(options.extraArgs ?? []),
    ],
    cwd: options.dataDir,
    logPath,
    orphan: { kind: 'redis', port },
  });

  let exited = false;
  child.once('exit', () => {
    exited = true;
  });
  const deadline = Date.now() + 15_000;
  while (!(await ping(port))) {
    if (exited || Date.now() > deadline) {
      await stopChild(child, 'SIGTERM');
      const tail = await readFile(logPath, 'utf8').catch(() => '');
      throw new Error(
        `redis-server did not start; last log lines:\n${tail.split('\n').slice(-15).join('\n')}`,
      );
    }
    await sleep(50);
  }
  await writeOwner(options.dataDir, { startedBy: process.pid, port });

  return {
    url: `redis://127.0.0.1:${port}`,
    dataDir: options.dataDir,
    owned: true,
    origin: 'started',
    startedBy: process.pid,
    pid: await readPidFile(pidFile),
    stop: () => stopChild(child, 'SIGTERM'),
  };
}
