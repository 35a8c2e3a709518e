/**
 * `packages/contracts` and `packages/consumer` as an application gets them: built, packed, the two
 * tarballs installed into an empty folder (their registry dependencies from npm's cache or the
 * registry), the consumer README's script run there against a live stream of the test Redis.
 */
import { execFile, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from './helpers';

const run = promisify(execFile);
const PACKAGES = ['contracts', 'consumer'] as const;
type Name = (typeof PACKAGES)[number];

interface Packed {
  filename: string;
  files: { path: string }[];
}

/** Every module under the package's src/, as the compiled file names the pack should hold. */
async function compiledModules(name: Name): Promise<string[]> {
  const src = join(ROOT, 'packages', name, 'src');
  const entries = await readdir(src, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => relative(src, join(e.parentPath, e.name)).replace(/\.ts$/, ''))
    .flatMap((module) => [`${module}.js`, `${module}.d.ts`]);
}

/** The ```js block of the consumer README's "Install and run" section. */
async function readmeScript(): Promise<string> {
  const readme = await readFile(join(ROOT, 'packages/consumer/README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Install and run'));
  const script = /```js\n([\s\S]*?)```/.exec(section)?.[1];
  if (!script) throw new Error('the consumer README has no ```js block under "Install and run"');
  return script;
}

describe('the publishable packages', () => {
  let work: string;
  let app: string;
  const packed = {} as Record<Name, Packed>;
  let redis: Redis;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'hs-packages-'));
    app = join(work, 'app');
    redis = new Redis(process.env.REDIS_URL as string);
    // In order: the consumer's build compiles against the contracts' built declarations.
    for (const name of PACKAGES) {
      await run('npm', ['run', 'build', '-w', `@historical-sync/${name}`], { cwd: ROOT });
      const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', work], {
        cwd: join(ROOT, 'packages', name, 'dist'),
      });
      packed[name] = (JSON.parse(stdout) as Packed[])[0] as Packed;
    }
  }, 300_000);

  afterAll(async () => {
    redis?.disconnect();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it.each(PACKAGES)(
    '%s packs its compiled modules, their declarations, the manifest and the README, nothing else',
    async (name) => {
      const files = packed[name].files.map((f) => f.path).sort();
      expect(files).toEqual(['README.md', 'package.json', ...(await compiledModules(name))].sort());
      const manifest = JSON.parse(
        await readFile(join(ROOT, 'packages', name, 'dist/package.json'), 'utf8'),
      );
      expect(manifest.private).toBeUndefined();
      expect(manifest.type).toBe('module');
      for (const target of Object.values(manifest.exports) as Record<string, string>[]) {
        expect(Object.keys(target)).toEqual(['types', 'default']);
        expect(files).toContain(target.types?.replace(/^\.\//, ''));
        expect(files).toContain(target.default?.replace(/^\.\//, ''));
      }
    },
  );

  it('declares what each package needs: zod; the contracts and the application’s ioredis', async () => {
    const manifest = async (name: Name) =>
      JSON.parse(await readFile(join(ROOT, 'packages', name, 'dist/package.json'), 'utf8'));
    const contracts = await manifest('contracts');
    expect(Object.keys(contracts.dependencies)).toEqual(['zod']);
    expect(contracts.peerDependencies).toBeUndefined();
    const consumer = await manifest('consumer');
    expect(consumer.dependencies).toEqual({
      '@historical-sync/contracts': `^${contracts.version}`,
    });
    expect(Object.keys(consumer.peerDependencies).sort()).toEqual(['ioredis', 'kysely']);
    expect(consumer.peerDependenciesMeta).toEqual({ kysely: { optional: true } });
    expect(Object.keys(consumer.exports)).toEqual(['.', './postgres']);
  });

  it('installs from the two tarballs alone, and the README script prints an event from a live stream', async () => {
    await mkdir(app);
    await writeFile(
      join(app, 'package.json'),
      JSON.stringify({ name: 'an-application', private: true, type: 'module' }),
    );
    await run(
      'npm',
      [
        'install',
        '--no-audit',
        '--no-fund',
        '--prefer-offline',
        join(work, packed.contracts.filename),
        join(work, packed.consumer.filename),
      ],
      { cwd: app },
    );
    const installed = JSON.parse(
      await readFile(join(app, 'node_modules/@historical-sync/consumer/package.json'), 'utf8'),
    );
    expect(installed.exports['.'].default).toBe('./index.js');

    await writeFile(join(app, 'print.mjs'), await readmeScript());
    const stream = `packages-test:${randomUUID()}`;
    // A clean environment: nothing of the monorepo (NODE_OPTIONS, tsx) reaches the script.
    const child = spawn(process.execPath, ['print.mjs', stream], {
      cwd: app,
      env: { PATH: process.env.PATH, REDIS_URL: process.env.REDIS_URL },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    const exited = once(child, 'exit');
    try {
      const entityId = randomUUID();
      const event = {
        eventId: `organization:${entityId}:v1`,
        tenantId: randomUUID(),
        version: 1,
        occurredAt: '2026-01-01T00:00:00.000Z',
        runId: null,
        eventType: 'org.created',
        entityId,
        code: 'ACME',
        name: 'Acme',
        description: null,
        industry: null,
        website: null,
        parentId: null,
        isActive: true,
        metadata: {
          targetApplication: 'crm',
          isHistoricalSync: false,
          originalCreatedAt: '2026-01-01T00:00:00.000Z',
        },
      };
      // The group starts at '0', so the entry is read whether it lands before or after the start.
      await redis.xadd(stream, '*', 'event', JSON.stringify(event));
      const deadline = Date.now() + 60_000;
      while (!output.includes(`org.created ${event.eventId}`)) {
        if (child.exitCode !== null) throw new Error(`the script exited: ${output}`);
        if (Date.now() > deadline) throw new Error(`no event printed in 60 s: ${output}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(output).toContain(`org.created ${event.eventId}\n`);
    } finally {
      child.kill('SIGKILL');
      await exited;
      await redis.del(stream);
    }
  }, 300_000);

  it('gives an application typed exports: the schemas, the stream names and the consumer', async () => {
    await writeFile(
      join(app, 'check.ts'),
      `import { StreamConsumer } from '@historical-sync/consumer';
import { applicationStreams, StreamEvent } from '@historical-sync/contracts';

const streams: string[] = applicationStreams('crm');
const event = StreamEvent.parse({});
// @ts-expect-error: an event's fields are typed, so an unknown one is an error
event.notAField;
// @ts-expect-error: the options are typed, so a missing group is an error
new StreamConsumer({ redis: undefined as never, streams, consumer: 'c', handler: async () => {} });
`,
    );
    await writeFile(
      join(app, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          module: 'nodenext',
          moduleResolution: 'nodenext',
          strict: true,
          noEmit: true,
          skipLibCheck: true,
          typeRoots: [join(ROOT, 'node_modules/@types')],
          types: ['node'],
        },
        files: ['check.ts'],
      }),
    );
    // Exits 0 only if both @ts-expect-error lines meet an error: untyped (any) exports would not.
    await run(join(ROOT, 'node_modules/.bin/tsc'), ['-p', 'tsconfig.json'], { cwd: app });
  }, 120_000);
});
