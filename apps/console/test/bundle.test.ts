/**
 * The console's build carries no zod. The page takes the contracts' types, and the run
 * vocabulary's lists (statuses for the filter, which ones have ended) from their module without
 * schemas, `@historical-sync/contracts/run-vocabulary`: a value imported from the contracts' main
 * entry would bundle every schema and zod with them (about 100 kB more).
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

describe('console bundle', () => {
  let outDir: string;
  let scripts: string[];
  beforeAll(async () => {
    outDir = await mkdtemp(join(tmpdir(), 'console-bundle-'));
    await build({
      root: new URL('..', import.meta.url).pathname,
      build: { outDir, emptyOutDir: true },
      logLevel: 'silent',
    });
    const assets = join(outDir, 'assets');
    const names = (await readdir(assets)).filter((name) => name.endsWith('.js'));
    scripts = await Promise.all(names.map((name) => readFile(join(assets, name), 'utf8')));
  });
  afterAll(() => rm(outDir, { recursive: true, force: true }));

  it("holds the run vocabulary's lists and no zod", () => {
    expect(scripts.length).toBeGreaterThan(0);
    const code = scripts.join('\n');
    // The runs filter's list of statuses, as the minifier writes an array of strings.
    expect(code).toMatch(/[`'"]queued[`'"],[`'"]running[`'"],[`'"]paused[`'"]/);
    // zod's schemas all carry `_zod`, and its errors are ZodError: counted, not printed.
    const zod = code.match(/\b_zod\b|ZodError/g) ?? [];
    expect(zod.length, 'zod in the bundle: a value imported from the contracts main entry').toBe(0);
  });
});
