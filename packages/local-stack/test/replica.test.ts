/**
 * A streaming replica of a local Postgres, as `npm start` starts one with LOCAL_REPLICA=1: it
 * replays the primary's writes, refuses its own, and stops (its data removed) with the servers.
 */
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startLocalServices, withLocalReplica } from '../src/index';
import { execFileAsync } from '../src/process';

const psql = async (url: string, query: string) =>
  (await execFileAsync('psql', [url, '-tAc', query])).stdout.trim();

const savedStateDir = process.env.LOCAL_STATE_DIR;
afterAll(() => {
  if (savedStateDir === undefined) delete process.env.LOCAL_STATE_DIR;
  else process.env.LOCAL_STATE_DIR = savedStateDir;
});

describe('withLocalReplica', () => {
  it('with LOCAL_REPLICA=1 starts a streaming replica that replays the primary, stopped with it', async () => {
    const stateDir = await mkdtemp(join(tmpdir(), 'local-stack-primary-'));
    // Where the replica keeps its data: a folder of its own, to see it removed on stop.
    const replicaStateDir = await mkdtemp(join(tmpdir(), 'local-stack-replica-'));
    // mkdtemp's folder is private; one the postgres user can enter is used as it is (not
    // replaced by a folder of its own, postgres.ts usableDataDir), so this test can look into it.
    await chmod(replicaStateDir, 0o755);
    process.env.LOCAL_STATE_DIR = replicaStateDir;
    const services = await withLocalReplica(
      await startLocalServices({ stateDir, ephemeral: true, withRedis: false, database: 'app' }),
      { LOCAL_REPLICA: '1' },
    );
    const replicaUrl = services.replicaEnv.BACKFILL_DATABASE_URL;
    try {
      expect(replicaUrl).toMatch(/^postgres:\/\/postgres@127\.0\.0\.1:\d+\/app$/);
      if (!replicaUrl) throw new Error('no replica URL');
      expect(replicaUrl).not.toBe(services.databaseUrl);
      expect(await psql(replicaUrl, 'SELECT pg_is_in_recovery()')).toBe('t');
      await psql(services.databaseUrl, 'CREATE TABLE marker AS SELECT 42 AS n');
      await expect
        .poll(() => psql(replicaUrl, 'SELECT n FROM marker').catch(() => ''), {
          interval: 50,
          timeout: 10_000,
        })
        .toBe('42');
      await expect(psql(replicaUrl, 'INSERT INTO marker VALUES (1)')).rejects.toThrow(
        /read-only transaction/,
      );
    } finally {
      await services.stop();
    }
    await expect(psql(replicaUrl ?? '', 'SELECT 1')).rejects.toThrow();
    await expect(psql(services.databaseUrl, 'SELECT 1')).rejects.toThrow();
    expect(existsSync(join(replicaStateDir, 'postgres-replica'))).toBe(false);
    await rm(replicaStateDir, { recursive: true, force: true });
  });

  it('without LOCAL_REPLICA leaves the services as they are', async () => {
    const services = { databaseUrl: 'postgres://example/db', stop: async () => {} };
    const same = await withLocalReplica(services, {});
    expect(same.replicaEnv).toEqual({});
    expect(same.databaseUrl).toBe(services.databaseUrl);
  });
});
