/**
 * The sweeper role's schedule (the run sweep, and the streams' trim): one pass at a time. A sweep visits every active run, so on a large
 * backlog (or a slow database) it can outlast its interval; on a plain interval the next sweep
 * would then start beside it, read the same runs and look up the same jobs again, adding load
 * exactly when the system is furthest behind. So the next sweep starts `intervalMs` after the
 * previous one ended. Stopping cancels the next sweep and waits for the one in flight, so a sweep
 * never runs on connections the process is closing.
 */
export interface Sweeper {
  /** Cancels the next sweep and waits for one in progress; safe to call twice. */
  stop(): Promise<void>;
}

export function startSweeper(options: {
  sweep: () => Promise<void>;
  intervalMs: number;
  /** A failed sweep (the database or Redis down); the next one runs on schedule. */
  onError: (error: unknown) => void;
}): Sweeper {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  const schedule = () => {
    timer = setTimeout(() => {
      running = options
        .sweep()
        .catch(options.onError)
        .finally(() => {
          if (!stopped) schedule();
        });
    }, options.intervalMs);
  };
  schedule();
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
