/**
 * Real clients accept what the processes serve: Redocly's CLI lints the API's OpenAPI document
 * (/docs/json) with no error and finds an operationId on every operation, and Prometheus's
 * `promtool check metrics` accepts the API's and a worker's /metrics. Both tools are the ones
 * users run, not a reimplementation of their rules.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTestDatabase, type TestDatabase } from '@historical-sync/db/testing';
import { findFreePort, findPromtool } from '@historical-sync/local-stack';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Command, envWithout, killCommand, runApp, waitForApi } from './helpers';

const ADMIN_KEY = `admin-${randomBytes(12).toString('hex')}`;
/** Redocly's CLI as the package installs it, run by this Node (no npx, no network). */
const REDOCLY = fileURLToPath(import.meta.resolve('@redocly/cli/bin/cli.js'));

interface Finished {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end; a non-zero exit is a result to assert on, not an exception. */
function run(
  command: string,
  args: string[],
  options: { input?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<Finished> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      command,
      args,
      { env: options.env ?? process.env, maxBuffer: 16 * 1024 * 1024, timeout: 60_000 },
      (error, stdout, stderr) => {
        if (error && typeof error.code !== 'number') reject(error);
        else resolve({ code: error ? Number(error.code) : 0, stdout, stderr });
      },
    );
    child.stdin?.end(options.input ?? '');
  });
}

async function scrape(url: string, key?: string): Promise<string> {
  const response = await fetch(url, key ? { headers: { authorization: `Bearer ${key}` } } : {});
  expect(response.status).toBe(200);
  return response.text();
}

describe('real clients accept the API', () => {
  let database: TestDatabase;
  let dir: string;
  let apiUrl: string;
  let workerMetricsUrl: string;
  let promtool: string;
  const commands: Command[] = [];

  // Seconds; minutes only on a machine without promtool, where apt-get installs it first.
  beforeAll(async () => {
    [database, dir, promtool] = await Promise.all([
      createTestDatabase('real_clients'),
      mkdtemp(join(tmpdir(), 'real-clients-')),
      findPromtool(),
    ]);
    const prefix = `t${randomBytes(4).toString('hex')}`;
    const env = {
      ...envWithout('HOST', 'PORT', 'WORKER_ROLES'),
      DATABASE_URL: database.url,
      QUEUE_PREFIX: prefix,
      STREAM_PREFIX: `${prefix}:`,
      LOG_LEVEL: 'info',
      ADMIN_API_KEY: ADMIN_KEY,
    };
    const workerPort = await findFreePort();
    const api = runApp('api', { ...env, PORT: '0' });
    const worker = runApp('worker', { ...env, WORKER_METRICS_PORT: String(workerPort) });
    commands.push(api, worker);
    const [, address] = await api.waitFor(/API listening on (http:\/\/[^"\s]+)/);
    apiUrl = address ?? '';
    await waitForApi(apiUrl, api, 30_000);
    await worker.waitFor(/worker started/);
    workerMetricsUrl = `http://127.0.0.1:${workerPort}/metrics`;
  }, 300_000);

  afterAll(async () => {
    for (const command of commands) await killCommand(command);
    await rm(dir, { recursive: true, force: true });
    await database?.destroy();
  });

  it('redocly lint: the OpenAPI document has no error, and every operation has an operationId', async () => {
    const document = await scrape(`${apiUrl}/docs/json`);
    const file = join(dir, 'openapi.json');
    await writeFile(file, document);
    const lint = await run(process.execPath, [REDOCLY, 'lint', file, '--format', 'json'], {
      env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' },
    });
    const report = JSON.parse(lint.stdout) as {
      totals: { errors: number; warnings: number };
      problems: { ruleId: string; severity: string; message: string }[];
    };
    const problemsOf = (severity: string) =>
      report.problems
        .filter((p) => p.severity === severity)
        .map((p) => `${p.ruleId}: ${p.message}`);
    expect(problemsOf('error')).toEqual([]);
    expect(report.totals.errors).toBe(0);
    expect(lint.code).toBe(0);
    expect(report.problems.filter((p) => p.ruleId === 'operation-operationId')).toEqual([]);
    // The document is the API's, not an empty one that would pass anything.
    const paths = Object.keys((JSON.parse(document) as { paths: object }).paths);
    expect(paths).toContain('/admin/organizations/{orgId}/applications/{appId}/toggle');
    // Bull Board's page, served at both, is listed once, without the slash.
    expect(paths).toContain('/admin/queues');
  });

  it.each([
    ['the API', () => `${apiUrl}/metrics`],
    ['a worker', () => workerMetricsUrl],
  ])('promtool check metrics accepts the metrics of %s', async (_name, url) => {
    // The API's /metrics is admin-only; the worker's own server takes no key.
    const text = await scrape(url(), ADMIN_KEY);
    expect(text).toMatch(/^hs_/m);
    expect(text).toMatch(/^nodejs_active_handles\{/m);
    const check = await run(promtool, ['check', 'metrics'], { input: text });
    expect(check.stdout + check.stderr).toBe('');
    expect(check.code).toBe(0);
  });
});
