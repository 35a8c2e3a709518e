/**
 * The design's decisions live in the repository (docs/decisions/), and code and docs cite them by
 * path: every cited record exists, every record is listed in the index, every file a record says
 * implements it exists, and nothing cites a design document the repository does not hold.
 */
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './helpers';

const DECISIONS = 'docs/decisions';
/** Where the product's source and docs are; build output and dependencies are not read. */
const SOURCE_DIRS = ['apps', 'packages', 'docs', 'scripts', 'test', 'bench', '.ci'];
const ROOT_FILES = ['README.md', 'Dockerfile', 'docker-compose.yml', 'package.json'];
const SKIPPED_DIRS = new Set([
  'node_modules',
  'dist',
  'build',
  'coverage',
  '.turbo',
  'screenshots',
]);
const TEXT_FILE = /\.(ts|tsx|mts|cts|js|mjs|cjs|md|json|jsonc|ya?ml|sh|sql|html|css)$|^run$/;
/** A citation of a design file outside the repository, spelled so this file does not match it. */
const OUTSIDE_DESIGN = ['DESIGN', 'md'].join('.');

async function walk(dir: string): Promise<string[]> {
  const entries = await readdir(join(ROOT, dir), { withFileTypes: true }).catch(() => []);
  const files: string[] = [];
  for (const entry of entries) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory()) {
      if (!SKIPPED_DIRS.has(entry.name)) files.push(...(await walk(path)));
    } else if (TEXT_FILE.test(entry.name)) {
      files.push(path);
    }
  }
  return files;
}

async function sourceFiles(): Promise<Map<string, string>> {
  const paths = [
    ...ROOT_FILES.filter((file) => existsSync(join(ROOT, file))),
    ...(await Promise.all(SOURCE_DIRS.map(walk))).flat(),
  ];
  return new Map(
    await Promise.all(
      paths.map(async (path) => [path, await readFile(join(ROOT, path), 'utf8')] as const),
    ),
  );
}

describe('design decision records', () => {
  it('every cited docs/decisions record exists', async () => {
    const missing: string[] = [];
    let cited = 0;
    for (const [path, text] of await sourceFiles()) {
      for (const [record] of text.matchAll(/docs\/decisions\/\d{4}-[\w.-]*?\.md/g)) {
        cited += 1;
        if (!existsSync(join(ROOT, record))) missing.push(`${path} cites ${record}`);
      }
    }
    expect(missing).toEqual([]);
    // The code does cite them: a pattern that matched nothing would prove nothing.
    expect(cited).toBeGreaterThan(10);
  });

  it('no file cites a design document outside the repository', async () => {
    const citing = [...(await sourceFiles())]
      .filter(([, text]) => text.includes(OUTSIDE_DESIGN))
      .map(([path]) => path);
    expect(citing).toEqual([]);
  });

  it('the index lists every record, and every file a record names exists', async () => {
    const records = (await readdir(join(ROOT, DECISIONS)))
      .filter((name) => /^\d{4}-.+\.md$/.test(name))
      .sort();
    expect(records.length).toBeGreaterThan(0);
    const index = await readFile(join(ROOT, DECISIONS, 'README.md'), 'utf8');
    expect(records.filter((name) => !index.includes(`(${name})`))).toEqual([]);
    const missing: string[] = [];
    for (const name of records) {
      const text = await readFile(join(ROOT, DECISIONS, name), 'utf8');
      expect(text, name).toMatch(/^# \d+\. .+\n/);
      for (const [, path] of text.matchAll(/`((?:apps|packages|docs|scripts)\/[^`\s]+)`/g)) {
        if (path && !existsSync(join(ROOT, path))) missing.push(`${name} names ${path}`);
      }
    }
    expect(missing).toEqual([]);
  });
});
