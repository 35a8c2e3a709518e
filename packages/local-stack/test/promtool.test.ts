import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { findPromtool, PROMTOOL_INSTALL_HINT } from '../src/index';

describe('findPromtool', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
  });

  it('uses the executable PROMTOOL_PATH names', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'promtool-'));
    dirs.push(dir);
    const fake = join(dir, 'my-promtool');
    await writeFile(fake, '#!/bin/sh\n', { mode: 0o755 });
    expect(await findPromtool({ env: { PROMTOOL_PATH: fake } })).toBe(fake);
  });

  it('fails naming PROMTOOL_PATH when it names no executable, and installs nothing', async () => {
    await expect(findPromtool({ env: { PROMTOOL_PATH: '/nonexistent/promtool' } })).rejects.toThrow(
      /PROMTOOL_PATH \(\/nonexistent\/promtool\) is not an executable file/,
    );
  });

  it('finds one on PATH', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'promtool-path-'));
    dirs.push(dir);
    await writeFile(join(dir, 'promtool'), '#!/bin/sh\n', { mode: 0o755 });
    expect(await findPromtool({ env: { PATH: dir }, mayInstall: false })).toBe(
      join(dir, 'promtool'),
    );
  });

  it('when missing and it may not install, fails saying what to install', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'no-promtool-'));
    dirs.push(empty);
    await expect(findPromtool({ env: { PATH: empty }, mayInstall: false })).rejects.toThrow(
      PROMTOOL_INSTALL_HINT,
    );
    expect(PROMTOOL_INSTALL_HINT).toMatch(/apt-get install --no-install-recommends prometheus/);
  });
});
