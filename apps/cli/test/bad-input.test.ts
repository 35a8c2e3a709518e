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
      ['sync', 'demo', 'crm'],
      'hsync: invalid <tenantId> "demo": must be a UUID (find tenant ids with `hsync tenants` or GET /admin/tenants)',
    ],
    [
      ['sync', TENANT, 'crm', '--since', '2024-06-01T00:00:00'],
      'hsync: invalid --since "2024-06-01T00:00:00": needs Z or an offset after the time, e.g. 2024-07-01T00:00:00Z or 2024-07-01T00:00:00+02:00',
    ],
    [
      ['sync', TENANT, 'crm', '--since', 'yesterday'],
      'hsync: invalid --since "yesterday": must be an ISO-8601 date or date-time, e.g. 2024-07-01 or 2024-07-01T00:00:00Z',
    ],
    [
      ['sync', TENANT, 'crm', '--since', '2024-07-01T00:00:00.1234567Z'],
      'hsync: invalid --since "2024-07-01T00:00:00.1234567Z": has more than 6 fractional digits: Postgres keeps microseconds',
    ],
    [
      ['frobnicate'],
      'hsync: unknown command "frobnicate"; commands: enable, disable, sync, status, verify, tenants, runs, run, pause, resume, cancel, retry, streams, streams detach, key-create, key-list, key-revoke (see hsync --help)',
    ],
    [
      ['streams', 'detach', 'hs:crm:sync:organization:org_created'],
      'hsync: streams detach: missing <group> (usage: hsync streams detach <stream> <group> --yes)',
    ],
    [
      ['streams', 'detahc', 's', 'g'],
      'hsync: streams: unexpected argument "detahc" (usage: hsync streams; hsync streams detach <stream> <group> --yes)',
    ],
    // Refused before any request (nothing listens at the API address): nothing is detached.
    [
      ['streams', 'detach', 'hs:crm:sync:organization:org_created', 'crm-consumer'],
      'hsync: streams detach: refusing without --yes: once crm-consumer is detached, the entries of hs:crm:sync:organization:org_created it has not read or acknowledged are trimmed, and its application can never read them. If its application is gone: hsync streams detach hs:crm:sync:organization:org_created crm-consumer --yes',
    ],
    [
      ['sync', TENANT, 'crm', '--bogus'],
      "hsync: sync: unknown option '--bogus' (see hsync sync --help)",
    ],
    [['sync', TENANT], 'hsync: sync: missing <app> (usage: hsync sync <tenantId> <app> [options])'],
    [['pause', TENANT, 'run-1'], 'hsync: invalid <runId> "run-1": must be a UUID'],
    [
      ['enable', TENANT, 'crm.io'],
      'hsync: invalid <app> "crm.io": must be an application id or code (letters, digits, _ and -)',
    ],
    [
      ['sync', TENANT, 'crm', '--partitions', '257'],
      'hsync: invalid --partitions "257": must be at most 256',
    ],
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

  it('says the API cannot be reached, and how to start it or point hsync at it', async () => {
    const result = await cli('status', TENANT, 'crm');
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      `hsync: cannot reach the API at ${env.HSYNC_API_URL}: ECONNREFUSED ` +
        '(is the API running? start it with `npm start`, or point hsync at it with --api URL or HSYNC_API_URL)\n',
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
      'streams',
      'streams detach',
    ]) {
      expect(general.stdout).toMatch(new RegExp(`^  ${name} +\\S`, 'm'));
    }
    const sync = await cli('sync', '--help');
    expect(sync.code).toBe(0);
    expect(sync.stdout).toContain('Usage: hsync sync <tenantId> <app> [options]');
    expect(sync.stdout).toContain('--max-events-per-second N');
    expect((await cli('help', 'status')).stdout).toContain('Usage: hsync status');
    // A two-word command has its own help.
    const detach = await cli('help', 'streams', 'detach');
    expect(detach.code).toBe(0);
    expect(detach.stdout).toContain('Usage: hsync streams detach <stream> <group> --yes');
    expect((await cli('streams', 'detach', '--help')).stdout).toContain(
      'Usage: hsync streams detach',
    );
    expect((await cli('streams', '--help')).stdout).toContain('Usage: hsync streams\n');
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
