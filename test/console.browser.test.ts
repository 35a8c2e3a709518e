/**
 * The operator console in a real headless Chromium, against the API, worker and CRM consumer
 * processes, Postgres and Redis: sign in, find a tenant, preview what enabling would publish, enable and watch the
 * run reach 100 % without a reload, pause and resume a second run, retry a run a bad row failed
 * once the row is fixed, and a tenant key that sees no other tenant anywhere in the console.
 *
 * A newcomer is guided: each action leaves a note saying what it did; Cancel and Disable are red
 * and ask in the page before anything is sent; a run shows its tenant's name, duration and
 * average rate, and a cancelled one looks cancelled, not done; "sync needed" only when the
 * application is behind; the enable preview counts what Enable publishes (no since date), the
 * manual sync's preview counts from its date and shows the API's refusal of a bad one.
 *
 * The System page shows a stream that has entries and no consumer group with its warning, and a
 * group that never reads as stalled (the API runs with STREAM_GROUP_STALLED_MS=1000).
 *
 * Every wait polls the page (Playwright's auto-waiting locators, vitest's expect.poll), never a
 * sleep. `UPDATE_SCREENSHOTS=1` also writes the README's screenshots (docs/screenshots/) at
 * 1280×800; `UPDATE_SCREENSHOTS=system,runs` writes only those.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  EVENT_FIELD,
  HISTORICAL_EVENT_TYPE,
  isSyncMarker,
  StreamEvent,
  type SyncEvent,
  streamName,
} from '@historical-sync/contracts';
import { seedTenant } from '@historical-sync/db';
import { createTestDatabase, type TestDatabase } from '@historical-sync/db/testing';
import { CHROMIUM_ARGS, findChromium, findFreePort } from '@historical-sync/local-stack';
import { Redis } from 'ioredis';
import { sql } from 'kysely';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Command, killCommand, ROOT, runApp, waitForApi } from './helpers';

const ADMIN_KEY = 'console-test-admin-key';
const VIEWPORT = { width: 1280, height: 800 };
const UI_TIMEOUT = 30_000;
/** `1`: every screenshot; else the names to write, comma-separated. */
const SCREENSHOTS = process.env.UPDATE_SCREENSHOTS ?? '';
const screenshotDir = join(ROOT, 'docs', 'screenshots');

async function screenshot(page: Page, name: string) {
  if (SCREENSHOTS !== '1' && !SCREENSHOTS.split(',').includes(name)) return;
  mkdirSync(screenshotDir, { recursive: true });
  await page.screenshot({ path: join(screenshotDir, `${name}.png`) });
}

/** The run the page shows, from its address (`#/runs/<tenant>/<run>`). */
const runIdOf = (page: Page) => new URL(page.url()).hash.split('/').at(-1) as string;

/** The text beside `name` in a list of facts (a `dt` and its `dd`). */
const fact = (page: Page, label: string, name: string) =>
  page
    .getByLabel(label)
    .evaluate(
      (list, wanted) =>
        [...list.querySelectorAll('dt')].find((dt) => dt.textContent === wanted)?.nextElementSibling
          ?.textContent ?? null,
      name,
    );

const valueNow = async (page: Page, label: string) => {
  const value = await page
    .getByRole('progressbar', { name: label, exact: true })
    .getAttribute('aria-valuenow', { timeout: UI_TIMEOUT });
  return value === null ? null : Number(value);
};

/** The page's window, for functions evaluated in the browser: this file has no DOM types. */
type PageWindow = {
  getComputedStyle(e: unknown): { backgroundColor: string; backgroundImage: string };
};

describe('operator console in Chromium', () => {
  let wrapper: TestDatabase;
  let crm: TestDatabase;
  let redis: Redis;
  let api: Command | undefined;
  let worker: Command | undefined;
  let consumer: Command | undefined;
  let browser: Browser;
  let baseUrl: string;
  let missingBrowser: unknown;
  const unique = `t${randomBytes(4).toString('hex')}`;
  const contexts: BrowserContext[] = [];
  /** Anything the page logged as an error: a CSP refusal, a failed script. */
  const pageErrors: string[] = [];
  const tenants = { acme: '', other: '', broken: '' };
  let brokenRunId = '';

  /** The admin API as a client calls it. */
  const call = async (method: string, path: string, body?: object) => {
    const response = await fetch(`${baseUrl}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${ADMIN_KEY}`,
        ...(body ? { 'content-type': 'application/json' } : {}),
      },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };
  const waitForRunStatus = async (tenantId: string, runId: string, status: string) => {
    await expect
      .poll(
        async () =>
          (await call('GET', `/admin/organizations/${tenantId}/sync-runs/${runId}`)).body.status,
        { timeout: 60_000, interval: 100 },
      )
      .toBe(status);
  };
  /** Row events (markers left out) of one tenant on the crm organizations stream. */
  const organizationEvents = async (tenantId: string): Promise<SyncEvent[]> => {
    const stream = streamName(HISTORICAL_EVENT_TYPE.organizations, 'crm', `${unique}:`);
    const entries = await redis.xrange(stream, '-', '+');
    return entries
      .map(([, fields]) =>
        StreamEvent.parse(JSON.parse(fields[fields.indexOf(EVENT_FIELD) + 1] as string)),
      )
      .filter((e): e is SyncEvent => !isSyncMarker(e) && e.tenantId === tenantId);
  };

  async function signIn(key: string): Promise<Page> {
    const context = await browser.newContext({ viewport: VIEWPORT });
    contexts.push(context);
    const page = await context.newPage();
    page.setDefaultTimeout(UI_TIMEOUT);
    page.on('pageerror', (error) => pageErrors.push(error.message));
    page.on('console', (message) => {
      if (message.type() === 'error' && /Content.Security.Policy/i.test(message.text())) {
        pageErrors.push(message.text());
      }
    });
    await page.goto(`${baseUrl}/console/`);
    await page.getByRole('heading', { name: 'Historical sync console' }).waitFor();
    await screenshot(page, 'sign-in');
    await page.getByLabel('API key').fill(key);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Tenants' }).waitFor();
    return page;
  }

  beforeAll(async () => {
    wrapper = await createTestDatabase('console_browser');
    crm = await createTestDatabase('console_browser_crm', { migrate: false });
    redis = new Redis(process.env.REDIS_URL as string);
    const seed = (tenantName: string, organizations: number, memberships: number, seed: number) =>
      seedTenant(wrapper.db, {
        tenantName,
        organizations,
        memberships,
        creditAllocations: memberships ? 20 : 0,
        app: 'crm',
        seed,
      });
    tenants.acme = (await seed('acme-console', 100, 300, 11)).tenantId;
    tenants.other = (await seed('other-console', 10, 10, 12)).tenantId;
    tenants.broken = (await seed('broken-console', 60, 0, 13)).tenantId;

    const port = await findFreePort();
    baseUrl = `http://127.0.0.1:${port}`;
    const env = {
      ...process.env,
      DATABASE_URL: wrapper.url,
      CRM_DATABASE_URL: crm.url,
      QUEUE_PREFIX: unique,
      STREAM_PREFIX: `${unique}:`,
      // Small pages at 100 events/s: an enable's run takes seconds, long enough to watch.
      BACKFILL_PAGE_SIZE: '20',
      BACKFILL_MAX_EVENTS_PER_SECOND: '100',
      PORT: String(port),
      ADMIN_API_KEY: ADMIN_KEY,
      LOG_LEVEL: 'warn',
      RELAY_POLL_INTERVAL_MS: '200',
      // A group with entries to read and no read for a second is stalled (the System page).
      STREAM_GROUP_STALLED_MS: '1000',
      // The tests read back what the CRM consumer has acknowledged: keep it for the file's run
      // (retention would trim it within seconds).
      STREAM_RETENTION_MS: '3600000',
    };
    api = runApp('api', env);
    worker = runApp('worker', env);
    consumer = runApp('crm-consumer', env);
    await waitForApi(baseUrl, api, 60_000);

    try {
      const executablePath = await findChromium();
      browser = await chromium.launch({
        executablePath,
        args: CHROMIUM_ARGS,
      });
    } catch (error) {
      // The tests below fail with what to install: they never pass by not running.
      missingBrowser = error;
    }
  }, 600_000);

  afterAll(async () => {
    for (const context of contexts) await context.close();
    await browser?.close();
    for (const command of [api, worker, consumer]) {
      if (command && command.child.exitCode === null) {
        command.child.kill('SIGTERM');
        const exited = await Promise.race([
          command.exit(),
          new Promise((resolve) => setTimeout(() => resolve(null), 10_000)),
        ]);
        if (!exited) await killCommand(command);
      }
    }
    const keys = await redis.keys(`*${unique}*`);
    for (let i = 0; i < keys.length; i += 500) await redis.del(...keys.slice(i, i + 500));
    redis.disconnect();
    await crm?.destroy();
    await wrapper?.destroy();
  }, 60_000);

  it('signs in, finds a tenant, previews, enables, and watches the run reach 100 % live', async () => {
    if (missingBrowser) throw missingBrowser;
    const page = await signIn(ADMIN_KEY);
    // Every tenant first; the search leaves only the one asked for.
    await page.getByText('other-console').waitFor();
    await page.getByLabel('Search by name or id').fill('acme');
    await page.getByRole('button', { name: 'Search' }).click();
    await expect
      .poll(() => page.getByText('other-console').count(), { timeout: UI_TIMEOUT })
      .toBe(0);
    await page.getByText('acme-console').waitFor();
    await screenshot(page, 'tenants');

    await page.getByRole('link', { name: 'CRM (crm)' }).click();
    await page.getByRole('heading', { name: 'acme-console / CRM' }).waitFor();
    // The page has its icon, served under the console's CSP (a refusal would be a page error).
    const icon = await page.locator('link[rel="icon"]').getAttribute('href');
    const iconResponse = await fetch(new URL(icon as string, page.url()));
    expect(iconResponse.status).toBe(200);
    expect(iconResponse.headers.get('content-type')).toContain('image/svg+xml');
    // Not enabled yet: the preview says what enabling would publish, and takes no date.
    await page.getByRole('heading', { name: 'What enabling would publish' }).waitFor();
    const enableSection = page.getByRole('region', { name: 'What enabling would publish' });
    expect(await enableSection.getByRole('textbox').count()).toBe(0);
    // The dry run's counts, as the API answers them, shown per resource.
    const dryRun = await call(
      'POST',
      `/admin/organizations/${tenants.acme}/applications/crm/sync-historical`,
      { dryRun: true },
    );
    expect(dryRun.status).toBe(200);
    const expected = dryRun.body as { counts: Record<string, number>; total: number };
    expect(expected.counts.organizations).toBe(100);
    await page.getByRole('button', { name: 'Preview', exact: true }).click();
    const preview = page.getByRole('table', { name: 'Dry run, all rows: nothing published' });
    for (const [label, resource] of [
      ['Credit allocations', 'credits'],
      ['Organizations', 'organizations'],
      ['Memberships', 'memberships'],
    ] as const) {
      await preview
        .getByRole('row', { name: `${label} ${expected.counts[resource]}`, exact: true })
        .waitFor();
    }
    await preview.getByRole('row', { name: `Total ${expected.total}`, exact: true }).waitFor();
    await screenshot(page, 'application');
    // A since date belongs to the manual sync, and its own preview honours it: nothing was
    // created after 2999.
    const syncSection = page.getByRole('region', { name: 'Manual sync' });
    await syncSection.getByLabel('Since date (optional)').fill('2999-01-01');
    await syncSection.getByRole('button', { name: 'Preview this sync' }).click();
    const sincePreview = syncSection.getByRole('table', {
      name: /^Dry run of this sync since 2999-01-01T/,
    });
    await sincePreview.getByRole('row', { name: 'Total 0' }).waitFor();
    // A bad date: the API's refusal shows, naming the field, and the stale counts are gone.
    await syncSection.getByLabel('Since date (optional)').fill('2024-13-45');
    await syncSection.getByRole('button', { name: 'Preview this sync' }).click();
    await page
      .getByRole('alert')
      .filter({ hasText: /field: \S*sinceDate/ })
      .waitFor();
    expect(await syncSection.getByRole('table').count()).toBe(0);
    // The enable preview still answers its own question, with every row.
    expect(
      await preview.getByRole('row', { name: `Total ${expected.total}`, exact: true }).count(),
    ).toBe(1);
    await syncSection.getByLabel('Since date (optional)').fill('');

    // The run page follows the run's live stream (fetch with the key, not EventSource).
    const liveStreams: { status: number; type: string | undefined }[] = [];
    page.on('response', (response) => {
      if (new URL(response.url()).pathname.endsWith('/live')) {
        liveStreams.push({ status: response.status(), type: response.headers()['content-type'] });
      }
    });
    // Enable keeps the normal style; the run page it moves to says what happened.
    const enable = page.getByRole('button', { name: 'Enable' });
    expect(await enable.getAttribute('class')).toBeNull();
    await enable.click();
    await page.getByRole('heading', { name: /^Run / }).waitFor();
    await page
      .getByRole('status')
      .filter({ hasText: /^Enabled CRM for acme-console: run [0-9a-f]{8} publishes its history\./ })
      .waitFor();
    // The run names its tenant, and says how long it has run so far.
    const details = page.getByLabel('Run details');
    await details.getByText(`acme-console ${tenants.acme}`).waitFor();
    await details.getByText(/ so far$/).waitFor();
    // Mid-way first, then complete: the bar moved on its own (the page is never reloaded).
    await expect
      .poll(() => valueNow(page, 'Overall progress'), { timeout: UI_TIMEOUT, interval: 100 })
      .toSatisfy((value) => value !== null && value > 0 && value < 100);
    await screenshot(page, 'run-live');
    await expect
      .poll(() => valueNow(page, 'Overall progress'), { timeout: 60_000, interval: 200 })
      .toBe(100);
    await page.getByLabel('Run details').getByText('completed', { exact: true }).waitFor();
    expect(liveStreams[0]).toEqual({
      status: 200,
      type: expect.stringContaining('text/event-stream'),
    });
    for (const resource of ['credits', 'organizations', 'memberships']) {
      expect(await valueNow(page, `${resource} progress`)).toBe(100);
    }
    expect(await organizationEvents(tenants.acme)).toHaveLength(100);
    // A completed run offers no control, and shows no empty box for them.
    await expect
      .poll(() => page.getByRole('group', { name: 'Run controls' }).count(), {
        timeout: UI_TIMEOUT,
      })
      .toBe(0);
    // Its duration (no longer "so far") and its average rate: published ÷ duration.
    const ended = await call(
      'GET',
      `/admin/organizations/${tenants.acme}/sync-runs/${runIdOf(page)}`,
    );
    const seconds =
      (Date.parse(ended.body.finishedAt as string) - Date.parse(ended.body.startedAt as string)) /
      1000;
    expect(await fact(page, 'Run details', 'Duration')).toMatch(/^(\d\.\d s|\d+ s|\d+ min \d+ s)$/);
    expect(await fact(page, 'Run details', 'Average rate')).toBe(
      `${((ended.body.published as number) / seconds).toLocaleString('en-US', { maximumFractionDigits: 1 })}/s`,
    );
    expect(await page.locator('.progress-cancelled, .progress-failed').count()).toBe(0);
  }, 180_000);

  it('verifies the application from its page: in sync, then the rows a damaged copy lacks', async () => {
    if (missingBrowser) throw missingBrowser;
    const verifyPath = `/admin/organizations/${tenants.acme}/applications/crm/verify`;
    // The CRM has applied the first test's run: a verification through the API finds no
    // difference (polled, the consumer may still be applying its last entries).
    await expect
      .poll(
        async () =>
          ((await call('POST', verifyPath, {})).body as { differences: number }).differences,
        {
          timeout: 60_000,
          interval: 500,
        },
      )
      .toBe(0);
    const page = await signIn(ADMIN_KEY);
    await page.getByText('other-console').waitFor();
    await page.getByLabel('Search by name or id').fill('acme');
    await page.getByRole('button', { name: 'Search' }).click();
    await expect
      .poll(() => page.getByText('other-console').count(), { timeout: UI_TIMEOUT })
      .toBe(0);
    await page.getByRole('link', { name: 'CRM (crm)' }).click();
    const section = page.getByRole('region', { name: 'Verification' });
    await section.getByRole('status').filter({ hasText: 'In sync with the source' }).waitFor();

    // Three memberships gone from the CRM's copy: Verify now finds them missing.
    await sql`
      DELETE FROM crm_memberships WHERE id IN (
        SELECT id FROM crm_memberships WHERE tenant_id = ${tenants.acme} AND is_active ORDER BY id LIMIT 3)
    `.execute(crm.db);
    await section.getByRole('button', { name: 'Verify now' }).click();
    await section.getByRole('status').filter({ hasText: '3 rows differ' }).waitFor();
    const memberships = section.getByRole('row').filter({
      has: page.getByRole('rowheader', { name: 'Memberships' }),
    });
    await expect
      .poll(async () => (await memberships.getByRole('cell').allTextContents()).slice(1))
      .toEqual(['3', '0', '0']);
    await screenshot(page, 'verification');
    // The last verification is kept: a fresh page shows it.
    await page.reload();
    await section.getByRole('status').filter({ hasText: '3 rows differ' }).waitFor();

    // Verify and repair: the three rows are sent again by a run of their own, which the page
    // links; once the CRM has applied it, the copy is in sync again.
    await section.getByRole('button', { name: 'Verify and repair' }).click();
    const repaired = section.getByText(/^Repaired by run [0-9a-f]{8}: 3 rows sent again$/);
    await repaired.waitFor({ timeout: UI_TIMEOUT });
    const runLink = repaired.getByRole('link');
    const runId = ((await runLink.getAttribute('href')) ?? '').split('/').at(-1) as string;
    const runPath = `/admin/organizations/${tenants.acme}/sync-runs/${runId}`;
    await expect
      .poll(async () => (await call('GET', runPath)).body as { status: string; trigger: string }, {
        timeout: 60_000,
        interval: 250,
      })
      .toMatchObject({ status: 'completed', trigger: 'verify' });
    await expect
      .poll(
        async () =>
          ((await call('POST', verifyPath, {})).body as { differences: number }).differences,
        { timeout: 60_000, interval: 500 },
      )
      .toBe(0);
    await runLink.click();
    await page.getByRole('heading', { name: new RegExp(`Run ${runId.slice(0, 8)}`) }).waitFor();
  }, 180_000);

  it('pauses and resumes a second run from its page', async () => {
    if (missingBrowser) throw missingBrowser;
    const page = await signIn(ADMIN_KEY);
    await page.goto(`${baseUrl}/console/#/tenants/${tenants.acme}/apps/crm`);
    await page.getByRole('heading', { name: 'acme-console / CRM' }).waitFor();
    // Enabled, its backfill completed: a preview is of a re-sync, and no sync is needed.
    await page.getByRole('heading', { name: 'What a re-sync would publish' }).waitFor();
    expect(await page.getByRole('heading', { name: 'What enabling would publish' }).count()).toBe(
      0,
    );
    expect(await fact(page, 'Application facts', 'Sync needed')).toBe('no');
    // Memberships only, slowly: 300 events at 20/s leaves time to pause it.
    // A value the API refuses: its 400 shows, naming the field, and nothing starts.
    await page.getByLabel('Partitions').fill('999');
    await page.getByRole('button', { name: 'Start sync' }).click();
    await page
      .getByRole('alert')
      .filter({ hasText: /field: \S*partitions/ })
      .waitFor();
    await page.getByLabel('Partitions').fill('');
    await page.getByLabel('Credit allocations').uncheck();
    await page.getByLabel('Organizations').uncheck();
    await page.getByLabel('Page size').fill('10');
    await page.getByLabel('Max events per second').fill('20');
    await page.getByRole('button', { name: 'Start sync' }).click();
    await page.getByRole('heading', { name: /^Run / }).waitFor();
    await page
      .getByRole('status')
      .filter({
        hasText: `Started run ${runIdOf(page).slice(0, 8)}: a manual sync of CRM for acme-console.`,
      })
      .waitFor();
    const controls = page.getByRole('group', { name: 'Run controls' });

    await controls.getByRole('button', { name: 'Pause' }).click();
    await page.getByLabel('Run details').getByText('paused', { exact: true }).waitFor();
    await page
      .getByRole('status')
      .filter({ hasText: `Paused run ${runIdOf(page).slice(0, 8)}.` })
      .waitFor();
    await controls.getByRole('button', { name: 'Resume' }).waitFor();
    expect(await controls.getByRole('button', { name: 'Pause' }).count()).toBe(0);
    const paused = await valueNow(page, 'Overall progress');
    expect(paused === null || paused < 100).toBe(true);
    await screenshot(page, 'run');

    await controls.getByRole('button', { name: 'Resume' }).click();
    const resumed = page.getByRole('status').filter({ hasText: /^Resumed run [0-9a-f]{8}\./ });
    await resumed.waitFor();
    // The note stays until dismissed.
    await resumed.getByRole('button', { name: 'Dismiss' }).click();
    await expect.poll(() => resumed.count(), { timeout: UI_TIMEOUT }).toBe(0);
    await expect
      .poll(() => valueNow(page, 'Overall progress'), { timeout: 90_000, interval: 200 })
      .toBe(100);
    await page.getByLabel('Run details').getByText('completed', { exact: true }).waitFor();
    expect(await controls.getByRole('button').count()).toBe(0);
  }, 180_000);

  it('cancels a run only once confirmed, and the cancelled run does not look done', async () => {
    if (missingBrowser) throw missingBrowser;
    const page = await signIn(ADMIN_KEY);
    await page.goto(`${baseUrl}/console/#/tenants/${tenants.acme}/apps/crm`);
    const sync = page.getByRole('region', { name: 'Manual sync' });
    await sync.getByLabel('Credit allocations').uncheck();
    await sync.getByLabel('Organizations').uncheck();
    await sync.getByLabel('Page size').fill('10');
    await sync.getByLabel('Max events per second').fill('10');
    await sync.getByRole('button', { name: 'Start sync' }).click();
    await page.getByRole('heading', { name: /^Run / }).waitFor();
    const runId = runIdOf(page);
    const controls = page.getByRole('group', { name: 'Run controls' });
    const cancel = controls.getByRole('button', { name: 'Cancel', exact: true });
    const pause = controls.getByRole('button', { name: 'Pause' });
    // Cancel is the danger; Pause keeps the normal style.
    expect(await cancel.getAttribute('class')).toBe('danger');
    expect(await pause.getAttribute('class')).toBeNull();
    const background = (button: typeof cancel) =>
      button.evaluate(
        (element) =>
          (globalThis as unknown as PageWindow).getComputedStyle(element).backgroundColor,
      );
    expect(await background(cancel)).not.toBe(await background(pause));

    // The first click only asks; keeping the run sends nothing.
    await cancel.click();
    const confirm = page.getByRole('alertdialog', { name: 'Cancel' });
    await confirm.getByText(/This is final/).waitFor();
    await confirm.getByRole('button', { name: 'Keep the run' }).click();
    await cancel.waitFor();
    const stillRunning = await call(
      'GET',
      `/admin/organizations/${tenants.acme}/sync-runs/${runId}`,
    );
    expect(['queued', 'running']).toContain(stillRunning.body.status);

    await cancel.click();
    await confirm.getByRole('button', { name: 'Yes, cancel the run' }).click();
    await page
      .getByRole('status')
      .filter({ hasText: `Cancelled run ${runId.slice(0, 8)}: it publishes nothing more` })
      .waitFor();
    await waitForRunStatus(tenants.acme, runId, 'cancelled');
    await page.getByLabel('Run details').getByText('cancelled', { exact: true }).waitFor();
    // Grey stripes and the word, on every bar; no green; no controls left.
    const overall = page.getByRole('progressbar', { name: 'Overall progress', exact: true });
    await expect
      .poll(() => overall.getAttribute('aria-valuetext'), { timeout: UI_TIMEOUT })
      .toMatch(/, cancelled$/);
    expect(await overall.getAttribute('class')).toBe('progress progress-cancelled');
    expect(await overall.textContent()).toMatch(/cancelled$/);
    const fills = await page
      .locator('.progress-fill')
      .evaluateAll((bars) =>
        bars.map(
          (bar) => (globalThis as unknown as PageWindow).getComputedStyle(bar).backgroundImage,
        ),
      );
    expect(fills.length).toBeGreaterThan(1);
    for (const fill of fills) expect(fill).toContain('repeating-linear-gradient');
    await expect.poll(() => controls.count(), { timeout: UI_TIMEOUT }).toBe(0);
    await screenshot(page, 'run-cancelled');

    // In the runs list and the tenant list too, it looks cancelled, not done.
    await page.goto(`${baseUrl}/console/#/runs?tenantId=${tenants.acme}`);
    const listed = page.getByRole('progressbar', { name: `Run ${runId.slice(0, 8)} progress` });
    expect(await listed.getAttribute('aria-valuetext')).toMatch(/, cancelled$/);
    await page.goto(`${baseUrl}/console/#/tenants?q=acme-console`);
    const latest = page.getByRole('progressbar', { name: 'acme-console crm latest run progress' });
    expect(await latest.getAttribute('aria-valuetext')).toMatch(/, cancelled$/);
    await page.goto(`${baseUrl}/console/#/runs/${tenants.acme}/${runId}`);

    // The enable's backfill completed: a cancelled re-sync leaves the application in sync.
    await page.getByRole('link', { name: 'acme-console / crm' }).click();
    await page.getByRole('heading', { name: 'acme-console / CRM' }).waitFor();
    await page.getByRole('progressbar', { name: 'Latest run progress' }).waitFor();
    expect(await fact(page, 'Application facts', 'Sync needed')).toBe('no');
    expect(
      await page
        .getByRole('progressbar', { name: 'Latest run progress' })
        .getAttribute('aria-valuetext'),
    ).toMatch(/, cancelled$/);
  }, 120_000);

  it('retries a run that a bad row failed, once the row is fixed', async () => {
    if (missingBrowser) throw missingBrowser;
    // The 40th organization in id order gets an empty name: a row the event contract rejects.
    const { rows } = await sql<{ id: string }>`
      SELECT id FROM entities WHERE tenant_id = ${tenants.broken} ORDER BY id OFFSET 40 LIMIT 1
    `.execute(wrapper.db);
    const badId = rows[0]?.id as string;
    await wrapper.db.updateTable('entities').set({ name: '' }).where('id', '=', badId).execute();
    const enabled = await call(
      'POST',
      `/admin/organizations/${tenants.broken}/applications/crm/toggle`,
      {
        isEnabled: true,
      },
    );
    brokenRunId = enabled.body.runId as string;
    await waitForRunStatus(tenants.broken, brokenRunId, 'failed');

    const page = await signIn(ADMIN_KEY);
    await page.getByRole('link', { name: 'Runs' }).click();
    await page.getByRole('link', { name: `Run ${brokenRunId.slice(0, 8)}` }).waitFor();
    await screenshot(page, 'runs');
    await page.getByLabel('State').selectOption('failed');
    await page.getByRole('button', { name: 'Filter' }).click();
    const link = page.getByRole('link', { name: `Run ${brokenRunId.slice(0, 8)}` });
    await link.waitFor();
    // The header and the one failed run.
    await expect.poll(() => page.getByRole('row').count(), { timeout: UI_TIMEOUT }).toBe(2);
    await link.click();
    await page.getByLabel('Run details').getByText('failed', { exact: true }).waitFor();
    // The last error in full, naming the row.
    await page.locator('pre').getByText(badId).waitFor();

    await wrapper.db
      .updateTable('entities')
      .set({ name: 'Fixed name' })
      .where('id', '=', badId)
      .execute();
    await page
      .getByRole('group', { name: 'Run controls' })
      .getByRole('button', { name: 'Retry' })
      .click();
    await expect
      .poll(() => valueNow(page, 'Overall progress'), { timeout: 60_000, interval: 200 })
      .toBe(100);
    await page.getByLabel('Run details').getByText('completed', { exact: true }).waitFor();
    // Every organization exactly once: the retry went on from the checkpoint.
    const events = await organizationEvents(tenants.broken);
    expect(events).toHaveLength(60);
    expect(new Set(events.map((e) => e.eventId)).size).toBe(60);
  }, 180_000);

  it('disables an application only once confirmed, and says so', async () => {
    if (missingBrowser) throw missingBrowser;
    const page = await signIn(ADMIN_KEY);
    await page.goto(`${baseUrl}/console/#/tenants/${tenants.broken}/apps/crm`);
    await page.getByRole('heading', { name: 'broken-console / CRM' }).waitFor();
    const enablement = page.getByRole('region', { name: 'Enablement' });
    const disable = enablement.getByRole('button', { name: 'Disable' });
    expect(await disable.getAttribute('class')).toBe('danger');
    await disable.click();
    const confirm = page.getByRole('alertdialog', { name: 'Disable' });
    await confirm.getByText(/^Disable CRM for broken-console\?/).waitFor();
    await screenshot(page, 'disable-confirm');
    await confirm.getByRole('button', { name: 'Keep it enabled' }).click();
    const status = `/admin/organizations/${tenants.broken}/applications/crm/sync-status`;
    expect((await call('GET', status)).body.isEnabled).toBe(true);

    await disable.click();
    await confirm.getByRole('button', { name: 'Yes, disable' }).click();
    await page
      .getByRole('status')
      .filter({ hasText: /^Disabled CRM for broken-console:/ })
      .waitFor();
    await enablement.getByRole('button', { name: 'Enable' }).waitFor();
    expect((await call('GET', status)).body.isEnabled).toBe(false);
    expect(await fact(page, 'Application facts', 'Enabled')).toBe('disabled');
    await page.getByRole('heading', { name: 'What enabling would publish' }).waitFor();
  }, 120_000);

  it('shows the system page to an admin', async () => {
    if (missingBrowser) throw missingBrowser;
    // hr has no consumer here: one of its streams gets entries and no group, another a group
    // that never reads (an application gone), which is stalled a second later.
    const unread = streamName(HISTORICAL_EVENT_TYPE.organizations, 'hr', `${unique}:`);
    const held = streamName(HISTORICAL_EVENT_TYPE.memberships, 'hr', `${unique}:`);
    for (let i = 0; i < 3; i++) await redis.xadd(unread, '*', 'event', String(i));
    for (let i = 0; i < 4; i++) await redis.xadd(held, '*', 'event', String(i));
    await redis.xgroup('CREATE', held, 'retired-app', '0');
    const [, maxmemory] = (await redis.config('GET', 'maxmemory')) as [string, string];

    const page = await signIn(ADMIN_KEY);
    await page.getByRole('link', { name: 'System' }).click();
    await page.getByRole('heading', { name: 'System', exact: true }).waitFor();
    await page.getByRole('heading', { name: 'Events per second, last 15 minutes' }).waitFor();
    await page.getByRole('heading', { name: 'Outbox' }).waitFor();
    await page.getByRole('heading', { name: 'Consumer groups' }).waitFor();
    await page.getByRole('heading', { name: 'Workers seen in the last minute' }).waitFor();
    // The worker process by its id (host:pid), from its heartbeat.
    await page.getByRole('rowheader', { name: new RegExp(`:${worker?.child.pid}$`) }).waitFor();
    // The runs above published events: the chart has samples (the page refreshes on its own).
    await page.getByRole('img', { name: /^Events per second from .* peak [1-9]/ }).waitFor();
    await page.getByRole('table', { name: 'Consumer groups' }).getByRole('row').nth(1).waitFor();

    // Redis's memory: a meter against maxmemory, or the warning that none is set.
    await page.getByRole('heading', { name: 'Redis memory' }).waitFor();
    const memory = page.getByRole('region', { name: 'Redis memory' });
    if (maxmemory === '0') {
      await memory
        .getByRole('alert')
        .filter({ hasText: /^No maxmemory set/ })
        .waitFor();
      expect(await memory.getByRole('meter').count()).toBe(0);
    } else {
      await memory.getByRole('meter', { name: 'Redis memory used' }).waitFor();
    }

    // Each stream's warning beside it, as an alert in its row.
    const streams = page.getByRole('table', { name: 'Streams' });
    const unreadRow = streams.getByRole('row').filter({
      has: page.getByRole('rowheader', { name: unread, exact: true }),
    });
    await unreadRow
      .getByRole('alert')
      .filter({ hasText: /^no consumer group reads this stream: its entries are kept/ })
      .waitFor();
    expect(await unreadRow.getByRole('cell').nth(0).textContent()).toBe('3');
    // Listed though no group reads it, and said so.
    expect(await unreadRow.getByRole('cell').nth(1).textContent()).toBe('none');
    // The group becomes stalled on a later refresh: the page is never reloaded.
    const heldRow = streams.getByRole('row').filter({
      has: page.getByRole('rowheader', { name: held, exact: true }),
    });
    await heldRow
      .getByRole('alert')
      .filter({ hasText: `detach it (hsync streams detach ${held} ` })
      .waitFor();
    expect(await heldRow.getByRole('cell').nth(1).textContent()).toBe('retired-app');
    // Every stream the API reports is a row, each with its length.
    const reported = (await call('GET', '/admin/system')).body.streams as {
      stream: string;
      length: number;
    }[];
    expect(await streams.getByRole('row').count()).toBe(reported.length + 1);
    const crmMemberships = streamName(HISTORICAL_EVENT_TYPE.memberships, 'crm', `${unique}:`);
    const listed = reported.find((s) => s.stream === crmMemberships);
    expect(listed?.length).toBe(await redis.xlen(crmMemberships));
    const groupRow = page
      .getByRole('table', { name: 'Consumer groups' })
      .getByRole('row')
      .filter({ hasText: 'retired-app' });
    await groupRow.getByText('stalled', { exact: true }).waitFor();
    expect(await groupRow.getByRole('cell').nth(3).textContent()).toBe('no consumer');
    // A group that reads is not stalled: the CRM consumer's.
    const reading = page
      .getByRole('table', { name: 'Consumer groups' })
      .getByRole('row')
      .filter({
        has: page.getByRole('rowheader', { name: /:crm:sync:organization:org_created$/ }),
      });
    await reading.first().waitFor();
    expect(await reading.getByText('stalled', { exact: true }).count()).toBe(0);

    // Streams that need a person come first.
    const warned = await streams
      .getByRole('row')
      .evaluateAll((rows) =>
        rows.slice(1).map((row) => row.querySelector('[role="alert"]') !== null),
      );
    expect(warned.slice(0, 2)).toEqual([true, true]);
    expect(warned).toEqual([...warned].sort((a, b) => Number(b) - Number(a)));
    // The screenshot shows Redis's memory and the streams.
    await page
      .getByRole('heading', { name: 'Redis memory' })
      .evaluate((heading) => heading.scrollIntoView({ block: 'start' }));
    await screenshot(page, 'system');
  }, 120_000);

  it('shows a tenant key its own tenant and no other, anywhere in the console', async () => {
    if (missingBrowser) throw missingBrowser;
    const created = await call('POST', '/admin/api-keys', {
      name: 'acme console',
      tenantId: tenants.acme,
    });
    expect(created.status).toBe(201);
    const page = await signIn(created.body.key as string);
    const strangers = [
      'other-console',
      'broken-console',
      tenants.other,
      tenants.broken,
      brokenRunId,
    ];
    const seesNoStranger = async () => {
      const html = await page.content();
      for (const stranger of strangers) expect(html).not.toContain(stranger);
    };

    await page.getByText('acme-console').first().waitFor();
    await seesNoStranger();
    expect(await page.getByRole('link', { name: 'System' }).count()).toBe(0);
    await page.getByLabel('Search by name or id').fill('console');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.getByText('acme-console').first().waitFor();
    await seesNoStranger();

    await page.getByRole('link', { name: 'Runs' }).click();
    await page.getByRole('heading', { name: 'Runs' }).waitFor();
    await page.getByRole('table', { name: 'Runs, newest first' }).waitFor();
    // The four acme runs (the enable, the verification's repair, the manual sync, the cancelled
    // one), nothing else.
    await expect.poll(() => page.getByRole('row').count(), { timeout: UI_TIMEOUT }).toBe(5);
    await seesNoStranger();
    // The tenant filter's options load with a request of their own: wait for them.
    await expect
      .poll(() => page.getByLabel('Tenant').locator('option').allTextContents(), {
        timeout: UI_TIMEOUT,
      })
      .toEqual(['All tenants', 'acme-console']);

    // Asking by address for another tenant's pages shows an error and none of their data.
    for (const hash of [
      `#/tenants/${tenants.other}/apps/crm`,
      `#/runs/${tenants.broken}/${brokenRunId}`,
      `#/runs?tenantId=${tenants.broken}`,
      '#/system',
    ]) {
      await page.goto(`${baseUrl}/console/${hash}`);
      await page.getByRole('alert').or(page.getByText('No run matches.')).first().waitFor();
      // The error may repeat the id that was asked for; nothing the API holds about it shows.
      const main = (await page.locator('main').textContent()) ?? '';
      for (const name of ['other-console', 'broken-console']) expect(main).not.toContain(name);
      expect(await page.getByLabel('Run details').count()).toBe(0);
      expect(await page.getByRole('table').count()).toBe(0);
    }
    expect(pageErrors).toEqual([]);
  }, 180_000);
});
