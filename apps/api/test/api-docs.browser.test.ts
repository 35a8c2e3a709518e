/**
 * The API's documentation page (/docs, Swagger UI) in a real headless Chromium: it loads under
 * the API's Content-Security-Policy with no violation, fetches nothing from another origin (its
 * files are served by the API), and lists every operation of the generated document.
 *
 * With SCREENSHOT_DIR set (relative to the repository root), it also saves `api-docs.png` of the
 * page at 1280×800 there: `SCREENSHOT_DIR=docs/screenshots npm test -- apps/api/test/api-docs.browser.test.ts`.
 */
import { mkdir } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CHROMIUM_ARGS, findChromium } from '@historical-sync/local-stack';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiTestContext, createApiTestContext } from './helpers';

const REPOSITORY_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

describe('/docs in Chromium', () => {
  let t: ApiTestContext;
  let browser: Browser;
  let baseUrl: string;
  let missingBrowser: unknown;

  beforeAll(async () => {
    t = await createApiTestContext('api_docs');
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    baseUrl = `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`;
    // A missing browser fails the test below with what to install: never a skip.
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
  }, 600_000);
  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  it('shows every documented operation, from local files only, with no CSP violation', async () => {
    if (missingBrowser) throw missingBrowser;
    const openApi = (await t.app.inject({ method: 'GET', url: '/docs/json' })).json() as {
      paths: Record<string, Record<string, unknown>>;
    };
    const operations = Object.entries(openApi.paths).flatMap(([path, methods]) =>
      Object.keys(methods).map((method) => `${method.toUpperCase()} ${path}`),
    );
    expect(operations.length).toBeGreaterThanOrEqual(20);

    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    const consoleProblems: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error' || /Content[- ]Security[- ]Policy/i.test(message.text())) {
        consoleProblems.push(`${message.type()}: ${message.text()}`);
      }
    });
    page.on('pageerror', (error) => consoleProblems.push(`page error: ${error.message}`));
    const requested: string[] = [];
    page.on('request', (request) => requested.push(request.url()));

    const response = await page.goto(`${baseUrl}/docs`);
    expect(response?.status()).toBe(200);
    expect(response?.headers()['content-security-policy']).toContain("default-src 'self'");
    // Swagger UI renders one block per operation once it has fetched /docs/json.
    const blocks = page.locator('.opblock');
    await blocks.first().waitFor({ timeout: 30_000 });
    await expect.poll(() => blocks.count(), { timeout: 30_000 }).toBe(operations.length);
    const shown: string[] = [];
    for (const block of await blocks.all()) {
      const method = await block.locator('.opblock-summary-method').textContent();
      const path = await block.locator('.opblock-summary-path').getAttribute('data-path');
      shown.push(`${method?.toUpperCase()} ${path}`);
    }
    expect(new Set(shown)).toEqual(new Set(operations));
    await expect(page.getByText('historical-sync admin API').first().isVisible()).resolves.toBe(
      true,
    );

    // Everything the page loaded came from the API itself: no CDN, no validator badge.
    expect(requested.filter((url) => !url.startsWith(baseUrl))).toEqual([]);
    expect(requested).toContain(`${baseUrl}/docs/json`);
    expect(consoleProblems).toEqual([]);

    if (process.env.SCREENSHOT_DIR) {
      const dir = resolve(REPOSITORY_ROOT, process.env.SCREENSHOT_DIR);
      await mkdir(dir, { recursive: true });
      await page.screenshot({ path: resolve(dir, 'api-docs.png') });
    }
    await context.close();
  });
});
