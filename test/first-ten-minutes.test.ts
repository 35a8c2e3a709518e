/**
 * The README's "First ten minutes", run as a newcomer runs it: the ```bash block of that section,
 * line by line and as written, in one shell, in a fresh `git clone` of this repository (its
 * committed state, so the README is the one a newcomer gets). A line ending in `&` is the one
 * that runs in the background; the block's last line stops it.
 *
 * One line is not run as written: `npm ci`. A fresh clone plus `npm ci` installs exactly the
 * package-lock's tree that this checkout has installed, so the clone gets links to it instead
 * (seconds, not minutes, and no registry): each installed package is linked from this checkout's
 * node_modules, while the workspace links (`@historical-sync/*`) and `.bin` entries are made anew
 * inside the clone, as npm ci makes them, so the clone runs its own sources.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { lstat, mkdir, mkdtemp, readdir, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { isAlive } from '@historical-sync/local-stack';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readRunningStack } from '../scripts/lib/running-stack';
import { envWithout, ROOT } from './helpers';

const execFileAsync = promisify(execFile);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The ```bash block(s) of the README's "First ten minutes" section, one command a line. */
function firstTenMinutes(readme: string): string[] {
  const start = readme.indexOf('\n## First ten minutes\n');
  if (start === -1) throw new Error('the README has no "## First ten minutes" section');
  const end = readme.indexOf('\n## ', start + 1);
  const section = readme.slice(start, end === -1 ? undefined : end);
  const lines = [...section.matchAll(/```bash\n([\s\S]*?)```/g)].flatMap((block) =>
    (block[1] ?? '').split('\n'),
  );
  return lines.filter((line) => line.trim() !== '');
}

/** Links `from`'s node_modules into `to` as npm ci would lay them out (see the file's comment). */
async function linkInstalledPackages(from: string, to: string): Promise<void> {
  const link = async (dir: string) => {
    await mkdir(join(to, dir), { recursive: true });
    for (const name of await readdir(join(from, dir))) {
      const path = join(dir, name);
      const stat = await lstat(join(from, path));
      if (stat.isSymbolicLink()) {
        // A workspace package or a .bin entry: the same relative link, resolved in the clone.
        await symlink(await readlink(join(from, path)), join(to, path));
      } else if (name.startsWith('@') || name === '.bin') {
        await link(path);
      } else {
        await symlink(join(from, path), join(to, path));
      }
    }
  };
  await link('node_modules');
}

/** One bash, fed one README line at a time, as a person pastes them into a terminal. */
function shell(cwd: string, env: NodeJS.ProcessEnv) {
  const bash = spawn('bash', [], { cwd, env, detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  bash.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  bash.stderr.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  bash.stdin.write('exec 2>&1\n');
  let step = 0;
  const stepsDir = join(cwd, '..', 'steps');
  return {
    bash,
    /** Runs `line` in the shell; its output and exit status once it has finished. */
    async run(line: string, timeoutMs = 60_000): Promise<{ status: number; output: string }> {
      step += 1;
      // Each line is sourced from a file of its own, with stdin from /dev/null: a command that
      // reads stdin cannot swallow the lines after it, and variables and jobs stay the shell's.
      await mkdir(stepsDir, { recursive: true });
      const file = join(stepsDir, `${step}.sh`);
      await writeFile(file, `${line}\n`);
      const marker = `@@step ${step} exited `;
      const from = output.length;
      bash.stdin.write(`source ${file} </dev/null; printf '\\n${marker}%s@@\\n' $?\n`);
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const at = output.indexOf(marker, from);
        if (at !== -1) {
          const status = output.slice(at + marker.length).match(/^(\d+)@@/);
          if (status) return { status: Number(status[1]), output: output.slice(from, at) };
        }
        if (bash.exitCode !== null) throw new Error(`the shell exited during:\n${line}\n${output}`);
        if (Date.now() > deadline) {
          throw new Error(`no end of "${line}" within ${timeoutMs} ms:\n${output.slice(from)}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    },
  };
}

describe("the README's first ten minutes", () => {
  let dir: string;
  let clone: string;
  let bash: ChildProcess | undefined;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'first-ten-minutes-'));
    clone = join(dir, 'historical-sync');
    await execFileAsync('git', ['clone', '--quiet', ROOT, clone]);
  });
  afterAll(async () => {
    // A failed step must not leave the clone's stack running: stop its npm start, then the shell.
    const stack = clone && (await readRunningStack(join(clone, '.data', 'dev')));
    if (stack) {
      process.kill(stack.pid, 'SIGTERM');
      await expect.poll(() => isAlive(stack.pid), { timeout: 45_000, interval: 200 }).toBe(false);
    }
    if (bash?.pid && bash.exitCode === null) {
      try {
        process.kill(-bash.pid, 'SIGKILL');
      } catch {}
      await once(bash, 'exit');
    }
    await rm(dir, { recursive: true, force: true });
  }, 60_000);

  it('runs as written in a fresh clone: the demo tenant listed, a seeded tenant run paused, resumed and cancelled, a full run completed, its events in Redis, and the stop', async () => {
    const lines = firstTenMinutes(readFileSync(join(clone, 'README.md'), 'utf8'));
    const env = envWithout(
      'DATABASE_URL',
      'REDIS_URL',
      'PORT',
      'HSYNC_API_URL',
      'HSYNC_API_KEY',
      'ADMIN_API_KEY',
      'LOCAL_STATE_DIR',
    );
    const sh = shell(clone, env);
    bash = sh.bash;
    const value = async (name: string) => (await sh.run(`printf '%s' "$${name}"`)).output.trim();
    const steps = [...lines];
    const next = (pattern: RegExp) => {
      const line = steps.shift();
      if (line === undefined || !pattern.test(line)) {
        throw new Error(`expected a line matching ${pattern}, found ${JSON.stringify(line)}`);
      }
      return line;
    };
    const ok = async (line: string, timeoutMs?: number) => {
      const result = await sh.run(line, timeoutMs);
      expect(result.status, `${line}\n${result.output}`).toBe(0);
      return result.output;
    };

    expect(next(/^npm ci$/)).toBe('npm ci');
    await linkInstalledPackages(ROOT, clone);

    const background = next(/&\s*$/);
    expect(background).toMatch(/^npm start\b/);
    await ok(background);

    const summary = await ok(next(/^until /), 240_000);
    expect(summary).toMatch(/^historical-sync is up$/m);
    const [, demoId = ''] =
      summary.match(/Demo\s+tenant "demo" ([0-9a-f-]{36}) \(created now\)/) ?? [];
    const [, apiUrl = ''] = summary.match(/^ {2}API\s+(http:\S+)/m) ?? [];
    const [, redisUrl = ''] = summary.match(/^ {2}Redis\s+(redis:\S+)/m) ?? [];
    expect(demoId).toMatch(UUID);

    await ok(next(/^eval .*HSYNC_API_URL/));
    expect(await value('HSYNC_API_URL')).toBe(apiUrl);

    expect(await ok(next(/^npx hsync tenants/))).toContain(`demo (${demoId})`);

    const seeded = await ok(next(/^T=\$\(npm run -s seed /), 120_000);
    const tenant = await value('T');
    expect(tenant).toMatch(UUID);
    // The seed used the running stack, and said so.
    expect(seeded).toMatch(
      /seed: using Postgres \S+ \(the npm start running in this folder, pid \d+\)/,
    );

    expect(await ok(next(/^npx hsync enable /))).toContain(
      `crm is now enabled for tenant ${tenant}`,
    );
    await ok(next(/^RUN=\$\(npx hsync sync .*--max-events-per-second/));
    const capped = await value('RUN');
    expect(capped).toMatch(UUID);
    expect(await ok(next(/^npx hsync run /))).toMatch(/\b(queued|running)\b/);

    const pages = await ok(next(/^grep .*Console/));
    const [, consoleUrl = ''] = pages.match(/Console\s+(http:\S+)/) ?? [];
    expect(consoleUrl).toBe(`${apiUrl}/console/`);
    expect((await fetch(consoleUrl)).status).toBe(200);
    expect(pages).toContain(`Queues    ${apiUrl}/admin/queues`);

    expect(await ok(next(/^npx hsync pause /))).toContain(`run ${capped} is now paused`);
    expect(await ok(next(/^npx hsync resume /))).toMatch(
      new RegExp(`run ${capped} is now (running|queued)`),
    );
    expect(await ok(next(/^npx hsync cancel /))).toContain(`run ${capped} is now cancelled`);

    expect(await ok(next(/^npx hsync sync \S+ crm\s*(#|$)/))).toContain('run started');
    const watched = await ok(next(/^npx hsync status .*--watch/), 180_000);
    expect(watched).toMatch(/completed/);

    expect(await ok(next(/^npx hsync streams/))).toContain(
      'crm:sync:organization:assignment_created',
    );
    const entry = await ok(next(/^redis-cli /));
    expect(entry).toContain(tenant);
    expect(entry).toMatch(/^event$/m);
    expect(redisUrl).not.toBe('');

    const stop = next(/^kill %1/);
    const stack = await readRunningStack(join(clone, '.data', 'dev'));
    expect(stack?.apiUrl).toBe(apiUrl);
    await ok(stop);
    await expect
      .poll(() => readFileSync(join(clone, 'start.log'), 'utf8'), {
        timeout: 60_000,
        interval: 200,
      })
      .toMatch(/stopped in [\d.]+s: api exited 0; worker exited 0; crm-consumer exited 0/);
    await expect
      .poll(() => isAlive(stack?.pid ?? 0), { timeout: 10_000, interval: 200 })
      .toBe(false);
    expect(existsSync(join(clone, '.data', 'dev', 'running-stack.json'))).toBe(false);
    expect(steps).toEqual([]);
  }, 600_000);
});
