import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CHROMIUM_INSTALL_HINT, findChromium } from '../src/index';

describe('findChromium', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
  });

  it('uses the executable CHROMIUM_PATH names', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'chromium-'));
    dirs.push(dir);
    const fake = join(dir, 'my-chromium');
    await writeFile(fake, '#!/bin/sh\n', { mode: 0o755 });
    expect(await findChromium({ env: { CHROMIUM_PATH: fake } })).toBe(fake);
  });

  it('fails naming CHROMIUM_PATH when it names no executable, and installs nothing', async () => {
    await expect(findChromium({ env: { CHROMIUM_PATH: '/nonexistent/chromium' } })).rejects.toThrow(
      /CHROMIUM_PATH \(\/nonexistent\/chromium\) is not an executable file/,
    );
  });

  it('finds one on PATH', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'chromium-path-'));
    dirs.push(dir);
    await writeFile(join(dir, 'chromium-browser'), '#!/bin/sh\n', { mode: 0o755 });
    expect(await findChromium({ env: { PATH: dir }, mayInstall: false })).toBe(
      join(dir, 'chromium-browser'),
    );
  });

  it('when missing and it may not install, fails saying what to install', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'no-chromium-'));
    dirs.push(empty);
    await expect(findChromium({ env: { PATH: empty }, mayInstall: false })).rejects.toThrow(
      CHROMIUM_INSTALL_HINT,
    );
    expect(CHROMIUM_INSTALL_HINT).toMatch(/apt-get install chromium/);
  });
});
