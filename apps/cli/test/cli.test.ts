/** hsync against the real API and worker: every command, its output and its exit code. */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hsync, type Stack, startStack } from './helpers';

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/;

describe('hsync against the API', () => {
  let stack: Stack;
  let tenant: string;
  const cli = (...args: string[]) => hsync(args, stack.cliEnv);
  /** The runId line that enable and sync print. */
  const runIdOf = (stdout: string) => stdout.match(new RegExp(`runId: (${UUID.source})`))?.[1];

  beforeAll(async () => {
    stack = await startStack('cli');
    tenant = stack.tenantId;
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it('shows a disabled application with its counts and no run', async () => {
    const result = await cli('status', tenant, 'crm');
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`crm for tenant ${tenant}: disabled`);
    expect(result.stdout).toContain(
      'counts: 10 active credit allocations, 20 organizations, 40 memberships (40 active)',
    );
    expect(result.stdout).toContain('sync needed: no');
    expect(result.stdout).toContain('outbox backlog: 0 unpublished');
    expect(result.stdout).toContain('no run yet');
  });

  it('exits 1 with the API message when syncing an application that is not enabled', async () => {
    const result = await cli('sync', tenant, 'crm');
    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toBe(
      'hsync: API 409 conflict: application crm is not enabled for this tenant',
    );
  });

  it('enables, and status --watch follows the run to 100% and exits 0', async () => {
    const enable = await cli('enable', tenant, 'crm');
    expect(enable.code).toBe(0);
    expect(enable.stdout).toContain(`crm is now enabled for tenant ${tenant}`);
    const runId = runIdOf(enable.stdout);
    expect(runId).toBeDefined();

    const watch = await cli('status', tenant, 'crm', '--watch', '--interval-ms', '200');
    expect(watch.stderr).toBe('');
    expect(watch.code).toBe(0);
    const lines = watch.stdout.trim().split('\n');
    // Not a TTY: plain lines, the last progress line at 100% of the 70 events, then the verdict.
    expect(lines.at(-2)).toMatch(/^run \S+ {2}\[█+\] {2}100% {2}70\/70 {2}completed$/);
    expect(lines.at(-1)).toMatch(new RegExp(`^run ${runId} completed in \\d+s$`));

    const status = await cli('status', tenant, 'crm');
    expect(status.stdout).toContain('sync needed: no');
    expect(status.stdout).toContain(`run ${runId}: completed (enable), 70/70 events (100%)`);
    expect(status.stdout).toContain(
      [
        '  credits       10/10           100%  completed',
        '  organizations 20/20           100%  completed',
        '  memberships   40/40           100%  completed',
      ].join('\n'),
    );
  });

  it('says so when enabling an enabled application, and starts nothing', async () => {
    const result = await cli('enable', tenant, 'crm');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`crm was already enabled for tenant ${tenant}`);
    expect(result.stdout).toContain('runId: none');
  });

  it('prints per-resource counts and the total of a dry run', async () => {
    const all = await cli('sync', tenant, 'crm', '--dry-run');
    expect(all.code).toBe(0);
    expect(all.stdout).toBe(
      [
        'dry run for crm (nothing published):',
        '  credits       10',
        '  organizations 20',
        '  memberships   40',
        '  total         70',
        '',
      ].join('\n'),
    );
    const some = await cli(
      'sync',
      tenant,
      'crm',
      '--dry-run',
      '--no-credits',
      '--since',
      '2024-01-01',
    );
    expect(some.code).toBe(0);
    expect(some.stdout).toContain('dry run for crm since 2024-01-01T00:00:00.000Z');
    expect(some.stdout).not.toContain('credits');
    expect(some.stdout).toContain('  total         60');
    // Microseconds pass through to the API and back, every digit.
    const micro = await cli(
      'sync',
      tenant,
      'crm',
      '--dry-run',
      '--since',
      '2024-01-01T02:00:00.000001+02:00',
    );
    expect(micro.code).toBe(0);
    expect(micro.stdout).toContain('dry run for crm since 2024-01-01T00:00:00.000001Z');
  });

  it('--json prints the API answer', async () => {
    const result = await cli('status', tenant, 'crm', '--json');
    expect(result.code).toBe(0);
    const body = JSON.parse(result.stdout);
    expect(body).toMatchObject({
      tenantId: tenant,
      appCode: 'crm',
      isEnabled: true,
      syncNeeded: false,
      latestRun: { status: 'completed', published: 70, total: 70, percent: 100 },
    });
  });

  it('pauses, resumes and cancels a run; watching a cancelled run exits 1', async () => {
    // Throttled to a crawl, so the run is still active while it is controlled.
    const sync = await cli(
      'sync',
      tenant,
      'crm',
      '--page-size',
      '1',
      '--max-events-per-second',
      '2',
    );
    expect(sync.code).toBe(0);
    expect(sync.stdout).toContain('run started (queued)');
    const runId = runIdOf(sync.stdout) as string;

    const again = await cli('sync', tenant, 'crm');
    expect(again.stdout).toContain('a run is already under way');
    expect(runIdOf(again.stdout)).toBe(runId);

    const pause = await cli('pause', tenant, runId);
    expect(pause.code).toBe(0);
    expect(pause.stdout).toContain(`run ${runId} is now paused`);
    expect(pause.stdout).toContain('max 2 events/s');

    const resume = await cli('resume', tenant, runId);
    expect(resume.code).toBe(0);
    expect(resume.stdout).toMatch(new RegExp(`run ${runId} is now (running|queued)`));

    const cancel = await cli('cancel', tenant, runId);
    expect(cancel.code).toBe(0);
    expect(cancel.stdout).toContain(`run ${runId} is now cancelled`);
    expect(cancel.stdout).toContain('last error: cancelled by request');

    const twice = await cli('cancel', tenant, runId);
    expect(twice.code).toBe(1);
    expect(twice.stderr.trim()).toBe('hsync: API 409 conflict: cannot cancel a cancelled run');

    const run = await cli('run', tenant, runId);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`run ${runId}: cancelled (manual)`);

    const watch = await cli('status', tenant, 'crm', '--watch', '--interval-ms', '100');
    expect(watch.code).toBe(1);
    expect(watch.stdout).toMatch(/cancelled/);
    expect(watch.stderr.trim()).toBe(`hsync: run ${runId} cancelled: cancelled by request`);
  });

  it('exits 1 with the API message and field for an unknown tenant or run', async () => {
    const unknown = randomUUID();
    const tenantResult = await cli('status', unknown, 'crm');
    expect(tenantResult.code).toBe(1);
    expect(tenantResult.stdout).toBe('');
    expect(tenantResult.stderr.trim()).toBe(
      `hsync: API 404 not_found: tenant ${unknown} not found (field orgId)`,
    );

    const runResult = await cli('run', tenant, unknown);
    expect(runResult.code).toBe(1);
    expect(runResult.stderr.trim()).toBe(
      `hsync: API 404 not_found: run ${unknown} not found (field runId)`,
    );

    const appResult = await cli('enable', tenant, 'nosuchapp');
    expect(appResult.code).toBe(1);
    expect(appResult.stderr).toContain('application nosuchapp not found (field appId)');

    // With --json the error body is printed as well, for scripts.
    const json = await cli('status', unknown, 'crm', '--json');
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({ error: 'not_found', field: 'orgId' });
  });

  it('exits 1 on a wrong admin key', async () => {
    const result = await cli('status', tenant, 'crm', '--key', 'not-the-key');
    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toBe(
      'hsync: API 401 unauthorized: missing, invalid or revoked API key',
    );
  });

  it('creates a tenant key that reaches only its tenant, lists it without its secret, revokes it', async () => {
    const created = await cli('key-create', '--name', 'tenant robot', '--tenant', tenant, '--json');
    expect(created.code).toBe(0);
    const key = JSON.parse(created.stdout) as { id: string; key: string; scope: string };
    expect(key.scope).toBe('tenant');
    expect(key.key).toMatch(/^hsk_[A-Za-z0-9_-]{43}$/);

    const asTenant = { ...stack.cliEnv, HSYNC_API_KEY: key.key };
    const own = await hsync(['status', tenant, 'crm'], asTenant);
    expect(own.code).toBe(0);
    expect(own.stdout).toContain(`crm for tenant ${tenant}`);
    const other = randomUUID();
    const elsewhere = await hsync(['status', other, 'crm'], asTenant);
    expect(elsewhere.code).toBe(1);
    expect(elsewhere.stderr.trim()).toBe(
      `hsync: API 404 not_found: tenant ${other} not found (field orgId)`,
    );
    // Key management is for admins only.
    const listAsTenant = await hsync(['key-list'], asTenant);
    expect(listAsTenant.code).toBe(1);
    expect(listAsTenant.stderr).toContain('API 403 forbidden');

    const listed = await cli('key-list');
    expect(listed.code).toBe(0);
    expect(listed.stdout).toContain(key.id);
    expect(listed.stdout).toContain('"tenant robot"');
    expect(listed.stdout).not.toContain(key.key);

    const revoked = await cli('key-revoke', key.id);
    expect(revoked.code).toBe(0);
    expect(revoked.stdout).toContain(`revoked: ${key.id}`);
    const afterRevoke = await hsync(['status', tenant, 'crm'], asTenant);
    expect(afterRevoke.code).toBe(1);
    expect(afterRevoke.stderr.trim()).toBe(
      'hsync: API 401 unauthorized: missing, invalid or revoked API key',
    );
  });

  it('disables the application', async () => {
    const result = await cli('disable', tenant, 'crm');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`crm is now disabled for tenant ${tenant}`);
    expect(result.stdout).toContain('runId: none');
  });
});
