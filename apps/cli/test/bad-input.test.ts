/**
 * Mistakes on the command line: one clear line and exit 1, before any request (the API address
 * points at a port nothing listens on, so a request would show up as "cannot reach").
 */
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { findFreePort } from '@historical-sync/local-stack';
import { beforeAll, describe, expect, it } from 'vitest';
import { hsync, ROOT } from './helpers';

const TENANT = '6c1f5d0e-8a1b-4c2d-9e3f-0a1b2c3d4e5f';

describe('hsync on bad input', () => {
  let env: Record<string, string>;
  const cli = (...args: string[]) => hsync(args, env);

  beforeAll(async () => {
    env = { HSYNC_API_URL: `http://127.0.0.1:${await findFreePort()}` };
  });

  it.each([
    [
      ['sync', 'not-a-uuid', 'crm'],
      'hsync: invalid <tenantId> "not-a-uuid": must be a UUID (the tenant id)',
    ],
    [
      ['sync', TENANT, 'crm', '--since', 'yesterday'],
      'hsync: invalid --since "yesterday": must be an ISO-8601 date or date-time, e.g. 2024-07-01 or 2024-07-01T00:00:00Z',
    ],
    [
      ['sync', TENANT, 'crm', '--since', '2024-07-01T00:00:00.1234567Z'],
      'hsync: invalid --since "2024-07-01T00:00:00.1234567Z": has more than 6 fractional digits: the API keeps microseconds',
    ],
    [
      ['frobnicate'],
      'hsync: unknown command "frobnicate"; commands: enable, disable, sync, status, tenants, runs, run, pause, resume, cancel, retry, key-create, key-list, key-revoke (see hsync --help)',
    ],
    [
      ['sync', TENANT, 'crm', '--bogus'],
      "hsync: sync: unknown option '--bogus' (see hsync sync --help)",
    ],
    [['sync', TENANT], 'hsync: sync: missing <app> (usage: hsync sync <tenantId> <app> [options])'],
    [['pause', TENANT, 'run-1'], 'hsync: invalid <runId> "run-1": must be a UUID (the run id)'],
    [
      ['sync', TENANT, 'crm', '--page-size', '0'],
      'hsync: invalid --page-size "0": must be at least 1',
    ],
    [
      ['status', TENANT, 'crm', '--watch', '--interval-ms', 'fast'],
      'hsync: invalid --interval-ms "fast": must be a whole number',
    ],
    [
      ['status', TENANT, 'crm', '--api', 'localhost:3000'],
      'hsync: invalid --api / HSYNC_API_URL "localhost:3000": must be an http(s) URL',
    ],
  ])('hsync %j', async (args, message) => {
    const result = await cli(...args);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(`${message}\n`);
    expect(result.code).toBe(1);
  });

  it('says the API cannot be reached', async () => {
    const result = await cli('status', TENANT, 'crm');
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      `hsync: cannot reach the API at ${env.HSYNC_API_URL}: ECONNREFUSED\n`,
    );
  });

  it('prints the usage and exits 1 without a command', async () => {
    const result = await cli();
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('Usage: hsync <command>');
  });

  it('prints help with --help, for the CLI and for a command', async () => {
    const general = await cli('--help');
    expect(general.code).toBe(0);
    expect(general.stdout).toContain('Usage: hsync <command> [arguments] [options]');
    for (const name of [
      'enable',
      'disable',
      'sync',
      'status',
      'run',
      'pause',
      'resume',
      'cancel',
    ]) {
      expect(general.stdout).toMatch(new RegExp(`^  ${name} +\\S`, 'm'));
    }
    const sync = await cli('sync', '--help');
    expect(sync.code).toBe(0);
    expect(sync.stdout).toContain('Usage: hsync sync <tenantId> <app> [options]');
    expect(sync.stdout).toContain('--max-events-per-second N');
    expect((await cli('help', 'status')).stdout).toContain('Usage: hsync status');
  });

  it('runs through the bin shim from any directory', () => {
    const result = spawnSync(process.execPath, [`${ROOT}/apps/cli/bin/hsync.js`, '--help'], {
      cwd: tmpdir(),
      encoding: 'utf8',
    });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('Usage: hsync <command>');
  });
});
