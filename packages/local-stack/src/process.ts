import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, openSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

export const execFileAsync = promisify(execFile);

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

export async function commandExists(command: string): Promise<boolean> {
  try {
    await execFileAsync('sh', ['-c', `command -v ${command}`]);
    return true;
  } catch {
    return false;
  }
}

const GUARD = fileURLToPath(new URL('./server-guard.mjs', import.meta.url));

export interface ServerSpec {
  command: string;
  args: string[];
  cwd: string;
  /** Run the server as this user (Postgres refuses root). */
  runAs?: { uid: number; gid: number } | undefined;
  /** Appended with the server's stdout and stderr. */
  logPath: string;
  /** How the guard stops the server when this process goes away without stopping it. */
  orphan: { kind: 'postgres' } | { kind: 'redis'; port: number };
}

/**
 * Starts a long-running server under a guard process (server-guard.mjs) in a process group of
 * its own: a terminal's Ctrl-C reaches the process that started it, which orders the stop,
 * never the server directly; and if that process dies without stopping it, the guard stops the
 * server, so no server outlives its starter. Signals sent to the returned child reach the server.
 */
export function spawnServer(spec: ServerSpec): ChildProcess {
  const log = openSync(spec.logPath, 'a');
  try {
    const child = spawn(
      process.execPath,
      [
        GUARD,
        JSON.stringify({
          command: spec.command,
          args: spec.args,
          cwd: spec.cwd,
          ...(spec.runAs ?? {}),
          orphan: spec.orphan,
          stopTimeoutMs: GUARD_STOP_TIMEOUT_MS,
        }),
      ],
      { cwd: spec.cwd, detached: true, stdio: ['pipe', log, log] },
    );
    // The pipe only tells the guard this process is alive; it must not keep this process up.
    (child.stdin as unknown as { unref?: () => void } | null)?.unref?.();
    return child;
  } finally {
    closeSync(log);
  }
}

/** The guard escalates to SIGKILL of the server after this; the starter's own timeout is longer. */
const GUARD_STOP_TIMEOUT_MS = 15_000;

/**
 * Stops a child with `signal`, escalating to SIGKILL after `timeoutMs`.
 * Resolves once the process has exited; safe to call on an exited process.
 */
export async function stopChild(
  child: ChildProcess,
  signal: NodeJS.Signals,
  timeoutMs = 20_000,
): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  try {
    await exited;
  } finally {
    clearTimeout(timer);
  }
}

export async function sleep(ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms));
}
