/**
 * The development admin key is public (the README prints it): the API process refuses to start
 * with it unless it listens on loopback only, where only this machine can reach it.
 */
import { createTestDatabase, type TestDatabase } from '@historical-sync/db/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Command, envWithout, killCommand, runApp } from './helpers';

describe('the API and the development admin key', () => {
  let database: TestDatabase;
  let started: Command | undefined;
  beforeAll(async () => {
    database = await createTestDatabase('admin_key');
  });
  afterAll(async () => {
    await killCommand(started);
    await database.destroy();
  });

  const env = (extra: NodeJS.ProcessEnv) => ({
    ...envWithout('ADMIN_API_KEY', 'HOST', 'PORT'),
    DATABASE_URL: database.url,
    PORT: '0',
    LOG_LEVEL: 'info',
    ...extra,
  });

  it.each([
    ['unset', {}],
    ['set to the development key', { ADMIN_API_KEY: 'dev-admin-key' }],
  ])('refuses to start on 0.0.0.0 with ADMIN_API_KEY %s', async (_, extra) => {
    const api = runApp('api', env({ HOST: '0.0.0.0', ...extra }));
    const { code } = await api.exit();
    expect(code).not.toBe(0);
    expect(api.output()).toMatch(/ADMIN_API_KEY: the development key .* not on 0\.0\.0\.0/);
    expect(api.output()).not.toMatch(/API listening/);
  });

  it('starts on loopback with the development key, and anywhere with a key of its own', async () => {
    for (const extra of [
      { HOST: '127.0.0.1' },
      { HOST: '0.0.0.0', ADMIN_API_KEY: 'a-key-of-our-own-0123456789' },
    ]) {
      started = runApp('api', env(extra));
      const [, port] = await started.waitFor(/API listening on http:\/\/[^"]*:(\d+)/);
      const health = await fetch(`http://127.0.0.1:${port}/health`);
      expect(health.status).toBe(200);
      started.child.kill('SIGTERM');
      expect((await started.exit()).code).toBe(0);
      started = undefined;
    }
  });
});
