import { createWriteStream } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { aptInstall } from './apt';
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

export async function startRedis(options: RedisOptions): Promise<RunningService> {
  const command = await findRedisServer();
  await mkdir(options.dataDir, { recursive: true });
  const port = await findFreePort(options.preferredPort ?? 0);
  const child = spawnServer(
    command,
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--dir',
      options.dataDir,
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
    { cwd: options.dataDir },
  );
  const logPath = join(options.dataDir, 'redis.log');
  const log = createWriteStream(logPath, { flags: 'a' });
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);

  let exited = false;
  child.once('exit', () => {
    exited = true;
  });
  const deadline = Date.now() + 15_000;
  while (!(await ping(port))) {
    if (exited || Date.now() > deadline) {
      await stopChild(child, 'SIGKILL');
      const tail = await readFile(logPath, 'utf8').catch(() => '');
      throw new Error(
        `redis-server did not start; last log lines:\n${tail.split('\n').slice(-15).join('\n')}`,
      );
    }
    await sleep(50);
  }

  return {
    url: `redis://127.0.0.1:${port}`,
    dataDir: options.dataDir,
    owned: true,
    stop: async () => {
      await stopChild(child, 'SIGTERM');
      log.end();
    },
  };
}
