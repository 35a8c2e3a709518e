import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

const WORKER_DIR = fileURLToPath(new URL('..', import.meta.url));

export interface WorkerProcess {
  child: ChildProcess;
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /**
   * Resolves once the worker has printed its ready line, which it does after installing its
   * stop-signal handlers: a signal sent earlier would end it by the default action instead.
   */
  ready(timeoutMs?: number): Promise<void>;
  /** Resolves once `pattern` appears in the worker's output (a log line is written after the state it reports). */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<void>;
}

/** Runs the worker's real entry point as its own process, as a container would. */
export function spawnWorker(env: Record<string, string>): WorkerProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: WORKER_DIR,
    env: {
      ...process.env,
      LOG_LEVEL: 'info',
      // A killed worker's job is retaken within a few seconds instead of the default 30.
      WORKER_LOCK_DURATION_MS: '2000',
      WORKER_STALLED_INTERVAL_MS: '1000',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = once(child, 'exit').then(([code, signal]) => ({ code, signal }));
  const waitForOutput = async (pattern: RegExp, timeoutMs = 60_000) => {
    const deadline = Date.now() + timeoutMs;
    while (!pattern.test(output)) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`worker exited before printing ${pattern}; output:\n${output}`);
      }
      if (Date.now() > deadline)
        throw new Error(`no ${pattern} within ${timeoutMs} ms:\n${output}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };
  return {
    child,
    output: () => output,
    exited,
    ready: (timeoutMs) => waitForOutput(/worker started/, timeoutMs),
    waitForOutput,
  };
}

/** Ends a worker that a test left running (a failed assertion must not leak processes). */
export async function killWorker(worker: WorkerProcess | undefined): Promise<void> {
  if (!worker || worker.child.exitCode !== null || worker.child.signalCode !== null) return;
  worker.child.kill('SIGKILL');
  await worker.exited;
}
