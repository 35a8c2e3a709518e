/**
 * docker-compose.yml and the Dockerfile, checked as text: every container runs a command the test
 * suite itself runs, with settings the apps know. No Docker and no network involved.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { APP_ENTRIES, MIGRATE_ENTRY } from '../scripts/lib/apps';
import { ROOT } from './helpers';

const app = (name: string) => {
  const entry = APP_ENTRIES.find((a) => a.name === name);
  if (!entry) throw new Error(`no app ${name} in scripts/lib/apps.ts`);
  return entry;
};
/** The entry points, in development (the tests run them through tsx) and compiled (the image). */
const ENTRIES = {
  api: app('api'),
  worker: app('worker'),
  crmConsumer: app('crm-consumer'),
  migrate: MIGRATE_ENTRY,
} as const;
/** How the image runs an entry: plain node on the compiled file, no loader. */
const command = (entry: { compiled: string }) => `node ${entry.compiled}`;

/** Each service built from the Dockerfile, and the entry point it must run. */
const APP_SERVICES: Record<string, { entry: string; compiled: string }> = {
  migrate: ENTRIES.migrate,
  api: ENTRIES.api,
  worker: ENTRIES.worker,
  relay: ENTRIES.worker,
  'crm-consumer': ENTRIES.crmConsumer,
};

interface Service {
  image?: string;
  build?: unknown;
  command?: unknown;
  environment?: Record<string, unknown> | string[];
  depends_on?: Record<string, { condition?: string }> | string[];
  healthcheck?: { test?: unknown };
  deploy?: { replicas?: number };
  restart?: string;
}

const read = (file: string) => readFileSync(join(ROOT, file), 'utf8');

/**
 * The sources the `build` script of the workspace owning `compiled` bundles into it (build-app.ts
 * writes `<entry folder>/../dist/<name>.js`), as paths from the root: the compiled file is what
 * `npm run build` produces.
 */
function buildsOf(compiled: string): string[] {
  const workspace = compiled.startsWith('dist/')
    ? ''
    : compiled.slice(0, compiled.indexOf('/dist/'));
  const manifest = JSON.parse(read(join(workspace, 'package.json'))) as {
    scripts: Record<string, string>;
  };
  const [, args = ''] = /build-app\.ts ([^&]+)/.exec(manifest.scripts.build ?? '') ?? [];
  const name = compiled.slice(compiled.lastIndexOf('/') + 1).replace(/\.js$/, '.ts');
  return args
    .trim()
    .split(/\s+/)
    .filter((source) => source.endsWith(`/${name}`))
    .map((source) => (workspace ? `${workspace}/${source}` : source));
}
// Compose resolves `<<` merge keys (the x-app anchor); YAML 1.2 parsers need asking.
const compose = parse(read('docker-compose.yml'), { merge: true }) as {
  services: Record<string, Service>;
};
const services = compose.services;
const readme = read('README.md');

function envNames(service: Service): string[] {
  const env = service.environment ?? {};
  return Array.isArray(env) ? env.map((entry) => entry.split('=')[0] as string) : Object.keys(env);
}

describe('docker-compose.yml', () => {
  it('parses, with the infrastructure and every application service', () => {
    expect(Object.keys(services)).toEqual(
      expect.arrayContaining(['postgres', 'redis', ...Object.keys(APP_SERVICES)]),
    );
    expect(services.postgres?.image).toMatch(/^postgres:17/);
    expect(services.redis?.image).toMatch(/^redis:7/);
    expect(services.redis?.command).toEqual([
      'redis-server',
      '--appendonly',
      'yes',
      '--appendfsync',
      'everysec',
    ]);
  });

  it('checks every service built from the Dockerfile here', () => {
    const built = Object.entries(services)
      .filter(([, service]) => service.build !== undefined)
      .map(([name]) => name);
    expect(built.sort()).toEqual(Object.keys(APP_SERVICES).sort());
  });

  it.each(Object.entries(APP_SERVICES))(
    '%s runs its compiled entry with plain node, exec form',
    (name, entry) => {
      const service = services[name] as Service;
      expect(Array.isArray(service.command), 'exec form: a list, so node gets the signals').toBe(
        true,
      );
      const args = service.command as unknown[];
      expect(args.every((arg) => typeof arg === 'string')).toBe(true);
      expect(args.join(' ')).toBe(command(entry));
      expect(args.join(' ')).not.toMatch(/tsx|\.ts\b/);
      expect(existsSync(join(ROOT, entry.entry)), `${entry.entry} exists`).toBe(true);
      expect(buildsOf(entry.compiled), `a build compiles ${entry.entry}`).toContain(entry.entry);
    },
  );

  it('sets only environment variables the README configuration documents', () => {
    const start = readme.indexOf('\n## Configuration\n');
    expect(start).toBeGreaterThan(0);
    const end = readme.indexOf('\n## ', start + 1);
    const configuration = readme.slice(start, end === -1 ? undefined : end);
    for (const name of Object.keys(APP_SERVICES)) {
      const service = services[name] as Service;
      const names = envNames(service);
      expect(names, name).toEqual(expect.arrayContaining(['DATABASE_URL', 'REDIS_URL']));
      for (const variable of names) {
        expect(configuration, `${name} sets ${variable}`).toContain(`\`${variable}\``);
      }
    }
  });

  it('gives the worker roles that exist and scales the workers out', () => {
    const roles = (env: Service['environment']) =>
      String((env as Record<string, string>).WORKER_ROLES).split(',');
    const known = ['runs', 'credits', 'organizations', 'memberships', 'relay', 'sweeper'];
    for (const name of ['worker', 'relay']) {
      const service = services[name] as Service;
      for (const role of roles(service.environment)) expect(known).toContain(role);
    }
    expect(services.worker?.deploy?.replicas).toBeGreaterThanOrEqual(2);
    expect(roles(services.relay?.environment)).toEqual(['relay']);
  });

  it('health-checks the api, postgres and redis, the api on GET /health', () => {
    for (const name of ['api', 'postgres', 'redis']) {
      const test = services[name]?.healthcheck?.test;
      expect(Array.isArray(test), `${name} healthcheck`).toBe(true);
      expect((test as unknown[]).every((part) => typeof part === 'string')).toBe(true);
    }
    expect(String(services.api?.healthcheck?.test)).toContain('/health');
  });

  it('starts what uses the schema only after migrate completed', () => {
    expect(services.migrate?.restart).toBe('no');
    expect(services.migrate?.depends_on).toMatchObject({
      postgres: { condition: 'service_healthy' },
    });
    for (const name of ['api', 'worker', 'relay']) {
      expect(services[name]?.depends_on, name).toMatchObject({
        migrate: { condition: 'service_completed_successfully' },
        redis: { condition: 'service_healthy' },
      });
    }
  });

  it('takes the API key from the environment, refusing to start without one (no public default)', () => {
    const env = services.api?.environment as Record<string, string>;
    expect(env.HOST).toBe('0.0.0.0');
    expect(env.ADMIN_API_KEY).toMatch(/^\$\{ADMIN_API_KEY:\?[^}]*ADMIN_API_KEY[^}]*\}$/);
    expect(read('docker-compose.yml')).not.toContain('dev-admin-key');
  });

  it('points the CRM consumer at its own database', () => {
    const env = services['crm-consumer']?.environment as Record<string, string>;
    expect(env.CRM_DATABASE_URL).toMatch(/\/historical_sync_crm$/);
  });
});

describe('Dockerfile', () => {
  const lines = read('Dockerfile')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'));
  const instructions = (name: string) =>
    lines.filter((line) => line.toUpperCase().startsWith(`${name} `));

  it('has build and runtime stages', () => {
    expect(instructions('FROM').length).toBeGreaterThanOrEqual(2);
  });

  it('installs from the lockfile with every workspace manifest', () => {
    expect(instructions('RUN').some((line) => /\bnpm ci\b/.test(line))).toBe(true);
    const workspaces = JSON.parse(read('package.json')).workspaces as string[];
    const text = lines.join('\n');
    expect(text).toContain('package-lock.json');
    for (const glob of workspaces) expect(text).toContain(`${glob}/package.json`);
  });

  /** Each stage's instructions by its name (`FROM … AS name`; the last one is the image). */
  const stages = new Map<string, string[]>();
  let current: string[] = [];
  for (const line of lines) {
    if (/^FROM /i.test(line)) {
      current = [];
      stages.set(/\sAS\s+(\S+)$/i.exec(line)?.[1] ?? `stage-${stages.size}`, current);
    }
    current.push(line);
  }
  const runtime = [...stages.values()].at(-1) ?? [];
  const copiesFrom = (stage: string[]) =>
    stage
      .filter((line) => /^COPY /i.test(line))
      .map((line) => {
        const parts = line.split(/\s+/).slice(1);
        const from = parts.find((part) => part.startsWith('--from='))?.slice('--from='.length);
        const paths = parts.filter((part) => !part.startsWith('--'));
        return { from, sources: paths.slice(0, -1), target: paths.at(-1) };
      });

  it('compiles in a build stage: npm run build after a full install', () => {
    const build = [...stages.values()].find((stage) =>
      stage.some((line) => /^RUN npm run build\b/.test(line)),
    );
    expect(build, 'a stage runs npm run build').toBeDefined();
    // Every dependency (the compiler and the bundler are development dependencies), then the build.
    const install = build?.findIndex((line) => /^RUN npm ci\b(?!.*--omit)/.test(line)) ?? -1;
    const compile = build?.findIndex((line) => /^RUN npm run build\b/.test(line)) ?? -1;
    expect(install).toBeGreaterThan(0);
    expect(compile).toBeGreaterThan(install);
  });

  it('runs plain node on compiled files only: production dependencies, no tsx, sources or tests', () => {
    expect(runtime.join('\n')).not.toMatch(/tsx|esbuild|typescript/i);
    const copies = copiesFrom(runtime);
    expect(
      copies.every((copy) => copy.from),
      'every file comes from an earlier stage',
    ).toBe(true);
    for (const copy of copies) {
      const stage = stages.get(copy.from as string) ?? [];
      for (const source of copy.sources) {
        expect(source, `${copy.from}:${source}`).not.toMatch(/\/(src|test|scripts|bench)\b|\.ts$/);
        if (source.endsWith('node_modules')) {
          // Installed without development dependencies, and nothing added to them.
          expect(stage.join('\n'), copy.from).toMatch(/^RUN npm ci --omit=dev\b/m);
          expect(copiesFrom(stage).filter((c) => c.target?.includes('node_modules'))).toEqual([]);
        }
      }
    }
    // The compiled output comes from the stage that ran the build.
    const fromBuild = copies.filter((copy) =>
      (stages.get(copy.from as string) ?? []).some((line) => /npm run build/.test(line)),
    );
    expect(fromBuild.length).toBeGreaterThan(0);
  });

  it('runs as a user that is not root, the API by default in exec form', () => {
    const user = instructions('USER').at(-1)?.split(/\s+/)[1];
    expect(user).toBeDefined();
    expect(['root', '0']).not.toContain(user?.split(':')[0]);
    const cmd = instructions('CMD').at(-1)?.slice('CMD '.length) ?? '';
    expect(JSON.parse(cmd)).toEqual(command(ENTRIES.api).split(' '));
  });
});
