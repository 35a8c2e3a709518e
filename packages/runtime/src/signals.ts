/**
 * Graceful stop on the first SIGINT/SIGTERM/SIGHUP, forced exit on the second
 * (docs/decisions/0008-stopping.md). A process started by `npm start` also stops gracefully when
 * its supervisor goes away (its IPC channel closes), so a killed supervisor leaves no app running.
 */
import type { Logger } from 'pino';

export const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

export function onStopSignal(logger: Logger, stop: () => Promise<void>, timeoutMs = 30_000): void {
  let stopping = false;
  const handle = (reason: NodeJS.Signals | 'supervisor gone') => {
    if (stopping) {
      if (reason === 'supervisor gone') return;
      logger.warn({ signal: reason }, 'second signal: exiting now');
      process.exit(130);
    }
    stopping = true;
    logger.info({ signal: reason }, 'stopping');
    const timer = setTimeout(() => {
      logger.error({ timeoutMs }, 'graceful stop timed out: exiting');
      process.exit(1);
    }, timeoutMs);
    timer.unref();
    stop().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'error while stopping');
        process.exit(1);
      },
    );
  };
  for (const signal of STOP_SIGNALS) process.on(signal, handle);
  // Only a process spawned with an IPC channel (by the `npm start` supervisor) has one; it closes
  // when the supervisor exits, however it ended.
  if (process.channel) {
    process.once('disconnect', () => handle('supervisor gone'));
    process.channel.unref();
  }
}
