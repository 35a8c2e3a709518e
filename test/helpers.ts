import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));

export interface Command {
  child: ChildProcess;
  output(): string;
  /** Resolves when `pattern` appears in stdout+stderr; rejects if the process exits first. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  exit(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Runs one of the root scripts as `npm run` would, with the given environment. */
export function runScript(script: string, args: string[], env: NodeJS.ProcessEnv): Command {
  return runEntry(`scripts/${script}.ts`, args, env);
}

/** Runs an app's entry point (e.g. `apps/worker/src/main.ts`) as its own process. */
/** `preload`: a module the process loads first (`node --import`), e.g. a registered resource. */
export function runApp(
  app: 'api' | 'worker' | 'crm-consumer',
  env: NodeJS.ProcessEnv,
  preload?: string,
): Command {
  return runEntry(`apps/${app}/src/main.ts`, [], env, preload);
}

function runEntry(
  entry: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  preload?: string,
): Command {
  const imports = ['--import', 'tsx', ...(preload ? ['--import', `./${preload}`] : [])];
  const child = spawn(process.execPath, [...imports, entry, ...args], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const listeners = new Set<() => void>();
  const onData = (chunk: Buffer) => {
    output += chunk.toString();
    for (const listener of listeners) listener();
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const exited = once(child, 'exit').then(([code, signal]) => ({ code, signal }));

  return {
    child,
    output: () => output,
    exit: () => exited,
    waitFor: (pattern, timeoutMs = 60_000) =>
      new Promise((resolve, reject) => {
        const check = () => {
          const match = output.match(pattern);
          if (!match) return;
          cleanup();
          resolve(match);
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`timed out waiting for ${pattern}; output:\n${output}`));
        }, timeoutMs);
        const onExit = () => {
          cleanup();
          reject(new Error(`exited before ${pattern}; output:\n${output}`));
        };
        const cleanup = () => {
          clearTimeout(timer);
          listeners.delete(check);
          child.off('exit', onExit);
        };
        listeners.add(check);
        child.once('exit', onExit);
        check();
      }),
  };
}

/** The environment without the URLs of the suite's shared servers. */
/** Polls the API's /health until it answers, or throws with the API's output after `timeoutMs`. */
export async function waitForApi(apiUrl: string, api: Command, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (
    !(await fetch(`${apiUrl}/health`).then(
      (r) => r.ok,
      () => false,
    ))
  ) {
    if (Date.now() > deadline) throw new Error(`the API did not start:\n${api.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** One request to the API as `key`: the answer's status and JSON body. */
export async function callApi(
  apiUrl: string,
  key: string,
  method: string,
  path: string,
  body?: object,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const response = await fetch(`${apiUrl}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${key}`,
      ...(body ? { 'content-type': 'application/json' } : {}),
    },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  return { status: response.status, json: (await response.json()) as Record<string, unknown> };
}

export function envWithout(...names: string[]): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of names) delete env[name];
  return env;
}

/** Ends a process a test left running (a failed assertion must not leak processes). */
export async function killCommand(command: Command | undefined): Promise<void> {
  if (!command || command.child.exitCode !== null || command.child.signalCode !== null) return;
  command.child.kill('SIGKILL');
  await command.exit();
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `hsync <args>` as a process to its end (killed after 30 s), as a user's shell would. */
export async function runHsync(args: string[], env: NodeJS.ProcessEnv): Promise<CliResult> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'apps/cli/src/main.ts', ...args], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(timer);
  return { code, stdout, stderr };
}
