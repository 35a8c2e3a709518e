/**
 * The console is rebuilt when its build is older than its own sources or than those of the
 * workspace packages Vite bundles into it (the client, and the contracts through it), and not
 * otherwise. Checked on a throwaway tree of real files with set modification times.
 */
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { consoleBuildStale } from '../scripts/lib/console-build';

const roots: string[] = [];
afterEach(() => {
  for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true });
});

/** A tree like the repository's: the console depends on the client, the client on contracts. */
function tree(): { root: string; touch: (path: string, at: number) => void } {
  const root = mkdtempSync(join(tmpdir(), 'console-build-'));
  roots.push(root);
  const touch = (path: string, at: number) => {
    const file = join(root, path);
    mkdirSync(dirname(file), { recursive: true });
    if (path.endsWith('package.json')) {
      const manifests: Record<string, object> = {
        'apps/console/package.json': {
          name: '@x/console',
          dependencies: { '@x/client': '*', preact: '*' },
        },
        'packages/client/package.json': {
          name: '@x/client',
          dependencies: { '@x/contracts': '*' },
        },
        'packages/contracts/package.json': { name: '@x/contracts' },
        'packages/db/package.json': { name: '@x/db' },
      };
      writeFileSync(file, JSON.stringify(manifests[path] ?? {}));
    } else {
      writeFileSync(file, path);
    }
    const seconds = at / 1000;
    utimesSync(file, seconds, seconds);
    // A folder's own time changes when an entry is added: set it too, to the same instant.
    utimesSync(dirname(file), seconds, seconds);
  };
  const base = Date.UTC(2030, 0, 1);
  for (const path of [
    'apps/console/package.json',
    'apps/console/src/main.tsx',
    'packages/client/package.json',
    'packages/client/src/client.ts',
    'packages/contracts/package.json',
    'packages/contracts/src/api/routes.ts',
    'packages/db/package.json',
    'packages/db/src/index.ts',
  ]) {
    touch(path, base);
  }
  touch('apps/console/dist/index.html', base + 60_000);
  return { root, touch };
}

describe('the console build', () => {
  const later = Date.UTC(2030, 0, 1) + 120_000;

  it('is fresh when built after every source, whatever changed in packages it does not bundle', () => {
    const { root, touch } = tree();
    expect(consoleBuildStale(root)).toBe(false);
    touch('packages/db/src/index.ts', later);
    expect(consoleBuildStale(root)).toBe(false);
  });

  it('is stale after a change to its own sources', () => {
    const { root, touch } = tree();
    touch('apps/console/src/main.tsx', later);
    expect(consoleBuildStale(root)).toBe(true);
  });

  it('is stale after a change to the client it bundles', () => {
    const { root, touch } = tree();
    touch('packages/client/src/client.ts', later);
    expect(consoleBuildStale(root)).toBe(true);
  });

  it('is stale after a change to the contracts, bundled through the client', () => {
    const { root, touch } = tree();
    touch('packages/contracts/src/api/routes.ts', later);
    expect(consoleBuildStale(root)).toBe(true);
  });

  it('is stale when never built', () => {
    const { root } = tree();
    rmSync(join(root, 'apps/console/dist'), { recursive: true });
    expect(consoleBuildStale(root)).toBe(true);
  });
});
