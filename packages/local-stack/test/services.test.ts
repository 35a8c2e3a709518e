import { existsSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ping, startLocalServices } from '../src/index';
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
    expect(services.databaseUrl).toBe('postgres://example/db');
    await services.stop();
  });
});
