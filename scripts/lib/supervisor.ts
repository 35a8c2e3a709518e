/**
 * The process tree `npm start` runs, and the one way it stops: apps first (each finishes its
 * page or batch in flight and hands its jobs back), then Redis and Postgres, within a bound.
 *
 * - Apps and servers run in process groups of their own, so a terminal's Ctrl-C (which signals
 *   the whole foreground group) reaches only npm and this supervisor, which orders the stop.
 * - SIGINT, SIGTERM and SIGHUP all stop gracefully. npm forwards SIGINT/SIGTERM, so one Ctrl-C
 *   arrives twice (from the terminal and from npm): signals within SAME_REQUEST_MS of the first
 *   are the same request; a later one forces the stop.
 * - If npm dies (SIGHUP, SIGKILL) this process is re-parented: it notices and stops everything.
 * - If this process dies, apps see their IPC channel close and stop; each server's guard sees
 *   its pipe close, waits for the apps to disconnect, and stops its server.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';

const APP_STOP_TIMEOUT_MS = 35_000;
const SAME_REQUEST_MS = 2_000;
const PARENT_POLL_MS = 250;

export interface AppProcess {
  name: string;
  child: ChildProcess;
}

export interface Supervisor {
  readonly apps: AppProcess[];
  readonly stopping: boolean;
  /** Runs `node <args>` (the entry point and how to load it: scripts/lib/apps.ts). */
  startApp(name: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): AppProcess;
  /** Stops the apps, then `stopServices`, prints the summary, exits with `code`. */
  stop(reason: string, code: number): Promise<never>;
}

export function createSupervisor(options: {
  stopServices(): Promise<void>;
  say(line: string): void;
}): Supervisor {
  const apps: AppProcess[] = [];
  let stopping: Promise<never> | undefined;
  let firstSignalAt = 0;
  const exits = new Map<string, string>();

  const stopApps = async (force: boolean) =>
    Promise.all(
      apps.map(async ({ name, child }) => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = once(child, 'exit');
        child.kill(force ? 'SIGKILL' : 'SIGTERM');
        const timer = setTimeout(() => {
          exits.set(name, 'killed after the stop timeout');
          child.kill('SIGKILL');
        }, APP_STOP_TIMEOUT_MS);
        await exited;
        clearTimeout(timer);
      }),
    );

  const stop = (reason: string, code: number): Promise<never> => {
    stopping ??= (async () => {
      const startedAt = Date.now();
      options.say(`stopping (${reason}): apps first, then Redis and Postgres...`);
      await stopApps(false);
      let servicesNote = 'Postgres and Redis stopped';
      try {
        await options.stopServices();
      } catch (error) {
        servicesNote = `stopping Postgres and Redis failed: ${error instanceof Error ? error.message : String(error)}`;
        code ||= 1;
      }
      const appNotes = apps.map(({ name }) => `${name} ${exits.get(name) ?? 'exited'}`);
      options.say(
        `stopped in ${((Date.now() - startedAt) / 1000).toFixed(1)}s: ${[...appNotes, servicesNote].join('; ')}`,
      );
      process.exit(code);
    })();
    return stopping;
  };

  const onSignal = (signal: NodeJS.Signals) => {
    if (!stopping) {
      firstSignalAt = Date.now();
      void stop(signal, 0);
      return;
    }
    if (Date.now() - firstSignalAt < SAME_REQUEST_MS) return;
    // A second request: stop without waiting for anyone.
    options.say(`${signal} again: stopping at once`);
    void stopApps(true)
      .then(() => options.stopServices())
      .finally(() => process.exit(130));
  };
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, onSignal);

  // Re-parented: npm (or whatever ran this) is gone, and with it whoever would stop us.
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent && !stopping) void stop('its parent process exited', 0);
  }, PARENT_POLL_MS).unref();

  return {
    apps,
    get stopping() {
      return stopping !== undefined;
    },
    startApp(name, args, cwd, env) {
      const child = spawn(process.execPath, args, {
        cwd,
        env,
        detached: true,
        // The IPC channel is how the app notices this process is gone (it closes on our exit).
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
      child.channel?.unref();
      child.once('exit', (exitCode, signal) => {
        if (!exits.has(name)) exits.set(name, signal ? `ended by ${signal}` : `exited ${exitCode}`);
        if (stopping) return;
        process.stderr.write(
          `error: ${name} exited (${signal ?? exitCode}); stopping everything\n`,
        );
        void stop(`${name} exited`, 1);
      });
      const app = { name, child };
      apps.push(app);
      return app;
    },
    stop,
  };
}
