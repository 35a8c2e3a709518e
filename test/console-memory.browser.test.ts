/**
 * The System page's Redis memory in headless Chromium, against the API and worker processes and
 * a Redis of its own (its `maxmemory` is changed here, which a shared Redis must not see): used of
 * maxmemory as a meter, where backfills wait, the worker's last trim; and, once the limit is
 * removed, the warning that none is set, on the page's own refresh (no reload). Every wait polls.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestDatabase, type TestDatabase } from '@historical-sync/db/testing';
import {
  CHROMIUM_ARGS,
  findChromium,
  findFreePort,
  type RunningService,
  startRedis,
} from '@historical-sync/local-stack';
import { Redis } from 'ioredis';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Command, killCommand, runApp, waitForApi } from './helpers';

const ADMIN_KEY = 'console-memory-admin-key';
const MAX_BYTES = 256 * 1024 * 1024;

describe('System page: Redis memory', () => {
  let server: RunningService;
  let redis: Redis;
  let database: TestDatabase;
  let browser: Browser | undefined;
  const commands: Command[] = [];
  let baseUrl = '';

  beforeAll(async () => {
    server = await startRedis({
      dataDir: await mkdtemp(join(tmpdir(), 'redis-console-memory-')),
      appendOnly: false,
    });
    redis = new Redis(server.url);
    await redis.config('SET', 'maxmemory', String(MAX_BYTES));
    database = await createTestDatabase('console_memory');
    const port = await findFreePort();
    baseUrl = `http://127.0.0.1:${port}`;
    const env = {
      ...process.env,
      DATABASE_URL: database.url,
      REDIS_URL: server.url,
      PORT: String(port),
      ADMIN_API_KEY: ADMIN_KEY,
      LOG_LEVEL: 'warn',
      STREAM_TRIM_INTERVAL_MS: '200',
    };
    const api = runApp('api', env);
    commands.push(api, runApp('worker', { ...env, WORKER_ROLES: 'sweeper' }));
    await waitForApi(baseUrl, api, 120_000);
    browser = await chromium.launch({ executablePath: await findChromium(), args: CHROMIUM_ARGS });
  }, 180_000);
  afterAll(async () => {
    await browser?.close();
    for (const command of commands) await killCommand(command);
    redis?.disconnect();
    await server?.stop();
    await database?.destroy();
  }, 60_000);

  it('shows used of maxmemory with where backfills wait, then warns when no maxmemory is set', {
    timeout: 120_000,
  }, async () => {
    const page = await (browser as Browser).newPage({ viewport: { width: 1280, height: 800 } });
    page.setDefaultTimeout(30_000);
    await page.goto(`${baseUrl}/console/`);
    await page.getByLabel('API key').fill(ADMIN_KEY);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Tenants' }).waitFor();
    await page.getByRole('link', { name: 'System' }).click();
    const memory = page.getByRole('region', { name: 'Redis memory' });

    const meter = memory.getByRole('meter', { name: 'Redis memory used' });
    await meter.waitFor();
    const text = (await meter.getAttribute('aria-valuetext')) as string;
    const [, percent] = text.match(/^[\d.]+ [KM]iB of 256 MiB \(([\d.]+) %\)$/) ?? [];
    expect(percent, text).toBeDefined();
    const valueNow = Number(await meter.getAttribute('aria-valuenow'));
    expect(Math.abs(valueNow - Number(percent))).toBeLessThanOrEqual(1);
    // BACKFILL_REDIS_MEMORY_PERCENT's default, in words and in bytes.
    await memory.getByText('80 % (205 MiB)', { exact: true }).waitFor();
    expect(await memory.getByRole('alert').count()).toBe(0);
    // The worker's sweeper trims every 200 ms and records its passes.
    await memory
      .getByText(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC, \d+ (entry|entries) removed$/)
      .waitFor();

    // No limit any more: the page's next refresh warns, and there is nothing to measure against.
    await redis.config('SET', 'maxmemory', '0');
    await memory
      .getByRole('alert')
      .filter({ hasText: /^No maxmemory set: Redis grows until the machine runs out of memory/ })
      .waitFor();
    expect(await memory.getByRole('meter').count()).toBe(0);
    await memory.getByText('never (no maxmemory to measure against)', { exact: true }).waitFor();
  });
});
