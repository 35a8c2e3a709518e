/**
 * The console's commands against the real API and worker processes: tenants and runs (search,
 * filters, next pages), retry of a run failed by a bad row, and status --watch in an 80-column
 * terminal, where state, rate and ETA stay visible and a paused run's resources read "paused".
 */
import { seedTenant } from '@historical-sync/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../src/cli';
import { hsync, type Stack, startStack } from './helpers';

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/;
/** Terminal escapes (cursor moves, clears): built from the ESC character, not typed in a regex. */
const ESC = String.fromCharCode(27);
const ESCAPES = new RegExp(`${ESC}\\[\\d*[A-Za-z]`, 'g');
/** Where watch redraws: cursor up to the previous frame's first line, clear to the end. */
const REDRAW = new RegExp(`${ESC}\\[\\d+F${ESC}\\[J`);

describe('hsync console commands', () => {
  let stack: Stack;
  let tenant: string;
  let other: string;
  const cli = (...args: string[]) => hsync(args, stack.cliEnv);
  const runIdOf = (stdout: string) => stdout.match(new RegExp(`runId: (${UUID.source})`))?.[1];

  beforeAll(async () => {
    stack = await startStack('cli_console');
    tenant = stack.tenantId;
    other = (
      await seedTenant(stack.db, {
        tenantName: 'cli-other',
        organizations: 2,
        memberships: 2,
        creditAllocations: 0,
        app: 'crm',
        seed: 2,
      })
    ).tenantId;
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it('lists tenants with their applications, searches, and prints the next page', async () => {
    const all = await cli('tenants');
    expect(all.stderr).toBe('');
    expect(all.code).toBe(0);
    expect(all.stdout).toContain(`cli-cli_console (${tenant})`);
    expect(all.stdout).toContain(`cli-other (${other})`);
    expect(all.stdout).toMatch(/^ {2}crm {7}disabled {2}no run yet$/m);

    const found = await cli('tenants', '--search', 'OTHER');
    expect(found.stdout).not.toContain(tenant);
    expect(found.stdout).toContain(other);

    const first = await cli('tenants', '--limit', '1');
    const next = first.stdout.match(/^next page: hsync (tenants .*)$/m)?.[1];
    expect(next).toMatch(/^tenants --limit 1 --cursor \S+$/);
    const second = await cli(...(next as string).split(' '));
    expect(second.code).toBe(0);
    expect(second.stdout).toContain(`cli-other (${other})`);
    expect(second.stdout).not.toContain('next page');

    const bad = await cli('tenants', '--limit', '0');
    expect([bad.code, bad.stderr.trim()]).toEqual([
      1,
      'hsync: invalid --limit "0": must be at least 1',
    ]);
  });

  it('retries a run failed by a bad row once the row is fixed, and lists runs by filter', async () => {
    const [victim] = await stack.db
      .selectFrom('entities')
      .select('id')
      .where('tenant_id', '=', tenant)
      .where('entity_type', '=', 'organization')
      .orderBy('id')
      .limit(1)
      .offset(12)
      .execute();
    await stack.db
      .updateTable('entities')
      .set({ name: '' })
      .where('id', '=', victim?.id as string)
      .execute();
    const enable = await cli('enable', tenant, 'hr');
    const runId = runIdOf(enable.stdout) as string;
    expect(runId).toMatch(UUID);
    const failed = await cli('status', tenant, 'hr', '--watch', '--interval-ms', '200');
    expect(failed.code).toBe(1);
    expect(failed.stderr).toContain(`hsync: run ${runId} failed: organizations:`);

    const listed = await cli('runs', '--tenant', tenant, '--status', 'failed');
    expect(listed.stdout).toMatch(new RegExp(`^ {2}\\S+ \\S+ {2}failed +hr +.* ${runId}$`, 'm'));
    expect(listed.stdout).toContain('last error: organizations:');

    await stack.db
      .updateTable('entities')
      .set({ name: 'Fixed' })
      .where('id', '=', victim?.id as string)
      .execute();
    const retried = await cli('retry', tenant, runId);
    expect(retried.stderr).toBe('');
    expect(retried.stdout).toContain(`run ${runId} retried: now running`);
    const watch = await cli('status', tenant, 'hr', '--watch', '--interval-ms', '200');
    expect(watch.code).toBe(0);
    const again = await cli('retry', tenant, runId);
    expect([again.code, again.stderr.trim()]).toEqual([
      1,
      'hsync: API 409 conflict: cannot retry a completed run',
    ]);

    // Another run, then one per page, newest first.
    await cli('enable', other, 'crm');
    await cli('status', other, 'crm', '--watch', '--interval-ms', '200');
    const page1 = await cli('runs', '--limit', '1');
    expect(page1.stdout).toContain(`cli-other (${other})`);
    const next = page1.stdout.match(/^next page: hsync (runs .*)$/m)?.[1] as string;
    const page2 = await cli(...next.split(' '));
    expect(page2.stdout).toContain(runId);
    const completedHr = await cli('runs', '--app', 'hr', '--status', 'completed');
    expect(completedHr.stdout).toContain(runId);
    expect(completedHr.stdout).not.toContain(other);
    const badStatus = await cli('runs', '--status', 'done');
    expect(badStatus.stderr).toMatch(/^hsync: invalid --status "done": must be one of queued, /);
  });

  it('status --watch at 80 columns keeps state, rate and ETA on screen; a paused run reads paused', async () => {
    await cli('enable', tenant, 'crm', '--skip-historical-sync');
    const started = await cli('sync', tenant, 'crm', '--max-events-per-second', '2');
    const runId = runIdOf(started.stdout) as string;
    expect(runId).toMatch(UUID);

    let screen = '';
    const watching = runCli(['status', tenant, 'crm', '--watch', '--interval-ms', '200'], {
      stdout: {
        write: (text) => {
          screen += text;
        },
        isTTY: true,
        columns: 80,
      },
      stderr: { write: () => {} },
      env: stack.cliEnv,
    });
    /** The frame drawn last: what the terminal shows now. */
    const lastFrame = () => {
      const frames = screen.split(REDRAW);
      return (frames.at(-1) ?? '').replace(ESCAPES, '').trimEnd().split('\n');
    };
    // Running, with a rate and an ETA once the second poll has seen progress.
    await expect
      .poll(() => lastFrame().join('\n'), { timeout: 30_000, interval: 100 })
      .toMatch(/running {2}\d[\d.,]* ev\/s {2}ETA \d/);
    const frame = lastFrame();
    expect(frame[0]).toBe(`run ${runId}`);
    expect(frame[1]).toMatch(
      /^ {2}\[[█░]{10}\] +\d+% {2}\d+\/70 {2}running {2}\S+ ev\/s {2}ETA \S+/,
    );

    const pause = await cli('pause', tenant, runId);
    expect(pause.code, `${pause.stderr}\n${screen}`).toBe(0);
    // Every resource with work left reads paused; one that finished before the pause came (a
    // small one, on a slow machine) reads completed, as the API says of it.
    const resourceStates = () =>
      lastFrame()
        .slice(2)
        .map((line) => line.trim().split(/\s+/).at(-1));
    await expect
      .poll(() => lastFrame()[1] ?? '', { timeout: 30_000, interval: 100 })
      .toMatch(/ {2}paused {2}\S+ ev\/s {2}ETA --$/);
    const stored = await stack.db
      .selectFrom('backfill_run_resources')
      .select('status')
      .where('run_id', '=', runId)
      .execute();
    const expected = stored.map((r) => (r.status === 'completed' ? 'completed' : 'paused'));
    expect(expected).toContain('paused');
    await expect
      .poll(() => [...resourceStates()].sort(), { timeout: 30_000, interval: 100 })
      .toEqual([...expected].sort());

    await cli('cancel', tenant, runId);
    expect(await watching).toBe(1);
    const lines = screen.replace(ESCAPES, '').split('\n');
    expect(lines.filter((line) => line.length > 80)).toEqual([]);
  });
});
