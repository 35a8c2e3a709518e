/**
 * Bull Board in a real headless Chromium: log in, see the failed backfill job, click Retry, and
 * the run resumes from its checkpoint and completes with every row published exactly once.
 * The job fails for a real reason: one organization's row is not a valid event (empty name),
 * which no automatic retry can fix; an operator fixes the row, then retries from the board.
 */
import type { AddressInfo } from 'node:net';
import { seedTenant } from '@historical-sync/db';
import { CHROMIUM_ARGS, findChromium } from '@historical-sync/local-stack';
import { sql } from 'kysely';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_KEY, type ApiTestContext, auth, createApiTestContext } from './helpers';

describe('Bull Board in Chromium', () => {
  let t: ApiTestContext;
  let browser: Browser;
  let baseUrl: string;

  let missingBrowser: unknown;

  beforeAll(async () => {
    t = await createApiTestContext('bull_board');
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    baseUrl = `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`;
    t.startWorkers();
    // Installed here when missing and allowed (root with apt-get); otherwise the test below
    // fails with what to install: a browser test never passes, nor is skipped, by not running.
    let executablePath: string;
    try {
      executablePath = await findChromium();
    } catch (error) {
      missingBrowser = error;
      return;
    }
    browser = await chromium.launch({
      executablePath,
      args: CHROMIUM_ARGS,
    });
    // Room for installing Chromium with apt-get on a fresh machine.
  }, 600_000);
  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  it('retries a failed backfill job from the board and the run completes', async () => {
    if (missingBrowser) throw missingBrowser;
    const organizations = 200;
    const { tenantId } = await seedTenant(t.db, {
      tenantName: 'board',
      organizations,
      memberships: 10,
      creditAllocations: 1,
      app: 'crm',
      seed: 8,
    });
    // The 150th organization in id order gets an empty name: a row the event contract rejects.
    const { rows } = await sql<{ id: string }>`
      SELECT id FROM entities WHERE tenant_id = ${tenantId} ORDER BY id OFFSET 150 LIMIT 1
    `.execute(t.db);
    const badId = rows[0]?.id as string;
    await t.db.updateTable('entities').set({ name: '' }).where('id', '=', badId).execute();

    const enabled = await t.app.inject({
      method: 'POST',
      url: `/admin/organizations/${tenantId}/applications/crm/toggle`,
      headers: auth,
      payload: { isEnabled: true },
    });
    const runId = enabled.json().runId as string;
    const failed = await t.waitForRun(runId, ['failed']);
    expect(failed.last_error).toContain(badId);
    const stream = t.streams('crm').organizations;
    const beforeRetry = (await t.readEvents(stream)).length;
    expect(beforeRetry).toBeGreaterThan(0);
    expect(beforeRetry).toBeLessThan(organizations);

    // The operator fixes the row, then retries from the board.
    await t.db
      .updateTable('entities')
      .set({ name: 'Fixed name' })
      .where('id', '=', badId)
      .execute();

    const context = await browser.newContext({
      httpCredentials: { username: 'admin', password: ADMIN_KEY },
    });
    const page = await context.newPage();
    const unauthenticated = await (await browser.newContext()).request.get(
      `${baseUrl}/admin/queues`,
    );
    expect(unauthenticated.status()).toBe(401);

    await page.goto(`${baseUrl}/admin/queues/queue/backfill-organizations?status=failed`);
    await page.getByText(`${runId}-organizations`).first().waitFor({ timeout: 15_000 });
    // The failed list holds just this job: "Retry all", then confirm in the board's dialog.
    await page.getByRole('button', { name: 'Retry all' }).click();
    await page.getByRole('button', { name: 'Confirm' }).click();
    await page
      .getByText(`${runId}-organizations`)
      .first()
      .waitFor({ state: 'detached', timeout: 15_000 });
    await context.close();

    // The run is still marked failed until the retried job starts; wait for it to complete.
    const completed = await t.waitForRun(runId, ['completed'], 30_000);
    expect(completed.status).toBe('completed');
    const events = await t.readEvents(stream);
    expect(events).toHaveLength(organizations);
    expect(new Set(events.map((e) => e.eventId)).size).toBe(organizations);
    const fixed = events.find((e) => e.eventType === 'org.created' && e.entityId === badId);
    expect(fixed).toMatchObject({ name: 'Fixed name', version: 3 });
  });
});
