/**
 * What a person sees when an app cannot start: a bad setting is one line naming the variable
 * and the form expected (exit 2), an unreachable server one line naming the service and the
 * setting (exit 1); never a stack trace. And the API's request log is one line per request at
 * REQUEST_LOG_LEVEL.
 */

import { findFreePort } from '@historical-sync/local-stack';
import { describe, expect, it } from 'vitest';
import { killCommand, runApp } from './helpers';

const APPS = ['api', 'worker', 'crm-consumer'] as const;
const env = (extra: Record<string, string>) => ({
  ...process.env,
  LOG_LEVEL: 'info',
  CRM_DATABASE_URL: process.env.DATABASE_URL as string,
  ...extra,
});

describe('app start-up errors', () => {
  it.each(APPS)(
    '%s: a bad setting is one line naming it and the expected form, exit 2',
    async (app) => {
      const run = runApp(app, env({ LOG_LEVEL: 'loud' }));
      expect(await run.exit()).toEqual({ code: 2, signal: null });
      const lines = run.output().trim().split('\n');
      expect(lines).toEqual([
        `${app}: invalid setting LOG_LEVEL="loud" (expected one of fatal, error, warn, info, debug, trace, silent)`,
      ]);
    },
  );

  it('names a number setting given as text', async () => {
    const run = runApp('api', env({ PORT: 'eighty' }));
    expect(await run.exit()).toEqual({ code: 2, signal: null });
    expect(run.output().trim()).toBe('api: invalid setting PORT="eighty" (expected a number)');
  });

  it('api: the development admin key off loopback is one line naming ADMIN_API_KEY, exit 2', async () => {
    const run = runApp('api', env({ HOST: '0.0.0.0', ADMIN_API_KEY: 'dev-admin-key' }));
    expect(await run.exit()).toEqual({ code: 2, signal: null });
    expect(run.output().trim().split('\n')).toEqual([
      'api: invalid setting ADMIN_API_KEY: the development key (dev-admin-key, used when ADMIN_API_KEY is unset) is accepted only on a loopback HOST, not on 0.0.0.0; set ADMIN_API_KEY to a secret of your own',
    ]);
  });

  it.each(APPS)('%s: an unreachable Postgres is named with its setting, exit 1', async (app) => {
    const setting = app === 'crm-consumer' ? 'CRM_DATABASE_URL' : 'DATABASE_URL';
    const run = runApp(app, env({ [setting]: 'postgres://postgres@127.0.0.1:1/nowhere' }));
    expect(await run.exit()).toEqual({ code: 1, signal: null });
    expect(run.output().trim()).toBe(
      `${app}: Postgres at ${setting} (127.0.0.1:1) is unreachable: ECONNREFUSED`,
    );
  });

  it('an unreachable Redis is named with REDIS_URL, exit 1', async () => {
    const run = runApp('worker', env({ REDIS_URL: 'redis://127.0.0.1:1' }));
    expect(await run.exit()).toEqual({ code: 1, signal: null });
    expect(run.output().trim()).toBe(
      'worker: Redis at REDIS_URL (127.0.0.1:1) is unreachable: ECONNREFUSED',
    );
  });
});

describe('API request log', () => {
  const requestLines = (output: string) =>
    output.split('\n').filter((line) => line.includes('"msg":"request"'));

  it.each([
    ['info', 1],
    ['debug', 0],
  ] as const)(
    'REQUEST_LOG_LEVEL=%s with LOG_LEVEL=info: %i line(s) per request',
    async (level, perRequest) => {
      const port = await findFreePort();
      const run = runApp('api', env({ PORT: String(port), REQUEST_LOG_LEVEL: level }));
      try {
        await run.waitFor(/API listening on/);
        for (let i = 0; i < 3; i++) {
          expect((await fetch(`http://127.0.0.1:${port}/health`)).status).toBe(200);
        }
        if (perRequest) {
          await expect.poll(() => requestLines(run.output()).length).toBe(3);
          const line = JSON.parse(requestLines(run.output())[0] as string);
          expect(line).toMatchObject({ method: 'GET', url: '/health', statusCode: 200 });
        }
        expect(run.output()).not.toMatch(/incoming request|request completed/);
      } finally {
        run.child.kill('SIGTERM');
        await run.exit();
        await killCommand(run);
      }
      // After the exit every line the requests caused has been written.
      if (!perRequest) expect(requestLines(run.output())).toEqual([]);
    },
  );
});
