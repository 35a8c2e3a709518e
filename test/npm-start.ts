/**
 * Runs `npm start` as a user does (through npm, in its own process group, as a terminal would
 * hold it) and reads what it printed: every pid and port it started, so a test can check that
 * none remains after a stop.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { promisify } from 'node:util';
import { isAlive } from '@historical-sync/local-stack';
import { ROOT } from './helpers';

const execFileAsync = promisify(execFile);

export interface NpmStart {
  /** The npm process, leader of its own process group. */
  npm: ChildProcess;
  output(): string;
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface RunningStack {
  run: NpmStart;
  supervisorPid: number;
  databaseUrl: string;
  redisUrl: string;
  apiUrl: string;
  demoTenantId: string;
  /** Every process the summary names: servers, apps, the supervisor. */
  pids: Record<string, number>;
  ports: number[];
}

/** `npm start`, with `args` after `--` (e.g. `--production`). */
export function npmStart(env: NodeJS.ProcessEnv, args: string[] = []): NpmStart {
  const npm = spawn('npm', ['start', ...(args.length ? ['--', ...args] : [])], {
    cwd: ROOT,
    env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const append = (chunk: Buffer) => {
    output += chunk.toString();
  };
  npm.stdout?.on('data', append);
  npm.stderr?.on('data', append);
  const exited = once(npm, 'exit').then(([code, signal]) => ({ code, signal }));
  let done = false;
  void exited.then(() => {
    done = true;
  });
  return {
    npm,
    output: () => output,
    exited,
    waitFor: async (pattern, timeoutMs = 120_000) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const match = output.match(pattern);
        if (match) return match;
        if (done) throw new Error(`npm start exited before ${pattern}; output:\n${output}`);
        if (Date.now() > deadline) throw new Error(`no ${pattern} in:\n${output}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
  };
}

/** Starts the stack and waits for its summary block. */
export async function startStack(
  env: NodeJS.ProcessEnv,
  args: string[] = [],
): Promise<RunningStack> {
  const run = npmStart(env, args);
  const supervisorPid = Number((await run.waitFor(/Press Ctrl-C to stop \(or kill (\d+)\)/))[1]);
  const text = run.output();
  const field = (pattern: RegExp) => {
    const match = text.match(pattern);
    if (!match) throw new Error(`no ${pattern} in:\n${text}`);
    return match;
  };
  // A server given by DATABASE_URL / REDIS_URL has no pid in the summary, and is not the stack's.
  const [, databaseUrl = '', postgresPid] = field(/Postgres\s+(\S+) \((?:[^)]*pid (\d+))?/);
  const [, redisUrl = '', redisPid] = field(/Redis\s+(\S+) \((?:[^)]*pid (\d+))?/);
  const [, apiUrl = ''] = field(/API\s+(http:\S+)/);
  const [, demoTenantId = ''] = field(/Demo\s+tenant "demo" ([0-9a-f-]{36})/);
  const pids: Record<string, number> = { supervisor: supervisorPid };
  if (postgresPid) pids.postgres = Number(postgresPid);
  if (redisPid) pids.redis = Number(redisPid);
  for (const [, name = '', pid] of field(/Apps\s+(.*)/)[1]?.matchAll(/([\w-]+) \(pid (\d+)\)/g) ??
    []) {
    pids[name] = Number(pid);
  }
  const ports = [postgresPid && databaseUrl, redisPid && redisUrl, apiUrl]
    .filter((url): url is string => Boolean(url))
    .map((url) => Number(new URL(url).port));
  return { run, supervisorPid, databaseUrl, redisUrl, apiUrl, demoTenantId, pids, ports };
}

/** Alive and not a zombie (an exited child nobody has reaped yet is not running). */
function running(pid: number): boolean {
  if (!isAlive(pid)) return false;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return !process.platform.startsWith('linux');
  }
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Processes whose command line names `text` (server guards, Postgres's `-D <folder>`). */
export async function processesNaming(text: string): Promise<string[]> {
  const { stdout } = await execFileAsync('pgrep', ['-af', text]).catch(() => ({ stdout: '' }));
  return stdout
    .split('\n')
    .filter((line) => line && !line.includes('pgrep'))
    .map((line) => line.trim());
}

/** What is still running or listening of a stack (empty once it is all gone). */
export async function leftovers(stack: RunningStack, stateDir: string): Promise<string[]> {
  const left: string[] = [];
  for (const [name, pid] of Object.entries(stack.pids)) {
    if (running(pid)) left.push(`${name} pid ${pid}`);
  }
  for (const port of stack.ports) if (await portOpen(port)) left.push(`port ${port}`);
  left.push(...(await processesNaming(stateDir)));
  return left;
}
