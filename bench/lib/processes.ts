import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface AppProcess {
  child: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

/** Runs an app's entry point as its own process, as in production. */
export function startApp(
  app: 'api' | 'worker' | 'crm-consumer',
  env: NodeJS.ProcessEnv,
  /** Flags for node itself, e.g. --cpu-prof (NODE_OPTIONS refuses those). */
  nodeArgs: string[] = [],
): AppProcess {
  const child = spawn(
    process.execPath,
    [...nodeArgs, '--import', 'tsx', `apps/${app}/src/main.ts`],
    {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-20_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return {
    child,
    output: () => output,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Peak resident memory of a process so far (VmHWM), in MB; Linux only. */
export async function peakRssMb(pid: number | undefined): Promise<number> {
  if (!pid) return Number.NaN;
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const kb = Number(status.match(/VmHWM:\s+(\d+) kB/)?.[1] ?? Number.NaN);
  return kb / 1024;
}

/** Polls `url` until it answers 2xx, or throws with the process's output after two minutes. */
export async function waitForOk(url: string, output: () => string): Promise<void> {
  for (let i = 0; ; i++) {
    const ok = await fetch(url).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return;
    if (i > 1200) throw new Error(`${url} did not answer: ${output()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
