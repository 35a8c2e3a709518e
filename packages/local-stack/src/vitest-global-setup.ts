/**
 * Vitest global setup: when a package's tests run on their own (no DATABASE_URL / REDIS_URL),
 * start throw-away servers for the run and stop them afterwards. The root `npm test` starts one
 * pair for every package and passes the URLs down, so this then does nothing.
 */
import { type LocalServices, startLocalServices } from './services';
import { localStateDir } from './state-dir';

let services: LocalServices | undefined;

export async function setup(): Promise<void> {
  if (process.env.DATABASE_URL && process.env.REDIS_URL) return;
  services = await startLocalServices({
    stateDir: localStateDir(`test-${process.pid}`),
    databaseUrl: process.env.DATABASE_URL,
    redisUrl: process.env.REDIS_URL,
    ephemeral: true,
  });
  process.env.DATABASE_URL = services.databaseUrl;
  process.env.REDIS_URL = services.redisUrl;
}

export async function teardown(): Promise<void> {
  await services?.stop();
}
