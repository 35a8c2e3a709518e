/**
 * The API serves the operator console's build at /console under a CSP with no inline script or
 * style, and without a build still starts and says how to make one.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUILD_HINT, CONSOLE_CSP } from '../src/plugins/console';
import { type ApiTestContext, createApiTestContext } from './helpers';

describe('console files', () => {
  let t: ApiTestContext;
  beforeAll(async () => {
    t = await createApiTestContext('console_files');
  });
  afterAll(() => t?.close());

  it('serves index.html and its hashed assets from the build, under a strict CSP', async () => {
    const redirect = await t.app.inject({ method: 'GET', url: '/console' });
    expect(redirect.statusCode).toBe(302);
    expect(redirect.headers.location).toBe('/console/');

    const page = await t.app.inject({ method: 'GET', url: '/console/' });
    expect(page.statusCode, page.body).toBe(200);
    expect(page.headers['content-type']).toContain('text/html');
    expect(page.headers['content-security-policy']).toBe(CONSOLE_CSP);
    expect(page.headers['content-security-policy']).not.toContain('unsafe-inline');
    expect(page.headers['cache-control']).toBe('no-cache');
    // Vite's build: scripts and styles are files under /console/assets/, none inline.
    expect(page.body).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect(page.body).not.toContain('<style');
    const assets = [...page.body.matchAll(/(?:src|href)="(\/console\/assets\/[^"]+)"/g)].map(
      (m) => m[1] as string,
    );
    expect(assets.some((a) => a.endsWith('.js'))).toBe(true);
    for (const asset of assets) {
      const response = await t.app.inject({ method: 'GET', url: asset });
      expect(response.statusCode).toBe(200);
      expect(response.headers['cache-control']).toContain('immutable');
    }
    // The files need no key; the data behind them does.
    const data = await t.app.inject({ method: 'GET', url: '/admin/outbox' });
    expect(data.statusCode).toBe(401);
  });

  it('without a build, the API still starts and /console says how to build it', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'no-console-'));
    const bare = await createApiTestContext('console_missing', { consoleDir: empty });
    try {
      for (const url of ['/console', '/console/', '/console/assets/x.js']) {
        const response = await bare.app.inject({ method: 'GET', url });
        expect(response.statusCode).toBe(503);
        expect(response.body).toContain(BUILD_HINT);
      }
      expect((await bare.app.inject({ method: 'GET', url: '/health' })).statusCode).toBe(200);
    } finally {
      await bare.close();
      await rm(empty, { recursive: true, force: true });
    }
  });
});
