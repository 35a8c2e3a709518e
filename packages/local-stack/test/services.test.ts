import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ping, startLocalServices, startRedis } from '../src/index';
import { execFileAsync } from '../src/process';

async function pgSelectOne(url: string): Promise<string> {
  const { stdout } = await execFileAsync('psql', [url, '-tAc', 'SELECT 1']);
  return stdout.trim();
}

describe('startLocalServices', () => {
  it('starts Postgres and Redis on free ports and leaves nothing running after stop', async () => {
    const stateDir = await mkdtemp(join(tmpdir(), 'local-stack-test-'));
    const services = await startLocalServices({ stateDir, ephemeral: true, database: 'probe' });
    try {
      expect(services.started).toEqual({ postgres: true, redis: true });
      expect(services.databaseUrl).toMatch(/^postgres:\/\/postgres@127\.0\.0\.1:\d+\/probe$/);
      expect(await pgSelectOne(services.databaseUrl)).toBe('1');
      const redisPort = Number(new URL(services.redisUrl).port);
      expect(await ping(redisPort)).toBe(true);
    } finally {
      await services.stop();
    }
    const redisPort = Number(new URL(services.redisUrl).port);
    expect(await ping(redisPort)).toBe(false);
    await expect(pgSelectOne(services.databaseUrl)).rejects.toThrow();
    expect(existsSync(stateDir)).toBe(false);
  });

  it('keeps data between runs of a durable stack', async () => {
    const stateDir = await mkdtemp(join(tmpdir(), 'local-stack-durable-'));
    const first = await startLocalServices({ stateDir, database: 'keep' });
    await execFileAsync('psql', [first.databaseUrl, '-c', 'CREATE TABLE marker (id int)']);
    await first.stop();
    const second = await startLocalServices({ stateDir, database: 'keep', ephemeral: true });
    try {
      const { stdout } = await execFileAsync('psql', [
        second.databaseUrl,
        '-tAc',
        "SELECT count(*) FROM pg_tables WHERE tablename = 'marker'",
      ]);
      expect(stdout.trim()).toBe('1');
    } finally {
      await second.stop();
    }
  });

  it('uses given URLs instead of starting servers', async () => {
    const services = await startLocalServices({
      stateDir: join(tmpdir(), 'never-created'),
      databaseUrl: 'postgres://example/db',
      redisUrl: 'redis://example:6379',
    });
    expect(services.started).toEqual({ postgres: false, redis: false });
    expect([services.postgres.origin, services.redis.origin]).toEqual(['given', 'given']);
    expect(services.databaseUrl).toBe('postgres://example/db');
    await services.stop();
  });

  it('reuses the servers already running on a data folder, says who started them, and never starts a second', async () => {
    const stateDir = await mkdtemp(join(tmpdir(), 'local-stack-shared-'));
    const first = await startLocalServices({ stateDir, database: 'shared' });
    try {
      expect(first.postgres).toMatchObject({ origin: 'started', startedBy: process.pid });
      expect(first.redis).toMatchObject({ origin: 'started', startedBy: process.pid });
      const second = await startLocalServices({ stateDir, database: 'shared' });
      expect(second.postgres).toMatchObject({ origin: 'reused', startedBy: process.pid });
      expect(second.redis).toMatchObject({ origin: 'reused', startedBy: process.pid });
      expect(second.postgres.pid).toBe(first.postgres.pid);
      expect(second.redis.pid).toBe(first.redis.pid);
      expect([second.databaseUrl, second.redisUrl]).toEqual([first.databaseUrl, first.redisUrl]);
      // Stopping what it reused leaves the first one's servers running.
      await second.stop();
      expect(await ping(Number(new URL(first.redisUrl).port))).toBe(true);
    } finally {
      await first.stop();
      await rm(stateDir, { recursive: true, force: true });
    }
  });

  it('refuses a data folder whose Redis is alive but does not answer, naming its pid', async () => {
    const stateDir = await mkdtemp(join(tmpdir(), 'local-stack-stuck-'));
    const first = await startLocalServices({ stateDir, database: 'stuck' });
    const redisPid = first.redis.pid as number;
    process.kill(redisPid, 'SIGSTOP');
    try {
      await expect(
        startRedis({ dataDir: join(stateDir, 'redis'), appendOnly: true }),
      ).rejects.toThrow(
        new RegExp(`in use by redis-server \\(pid ${redisPid}\\), which does not answer`),
      );
    } finally {
      process.kill(redisPid, 'SIGCONT');
      await first.stop();
      await rm(stateDir, { recursive: true, force: true });
    }
  });
});
