/**
 * The services a root command talks to: the URLs from the environment when given, else the local
 * development servers kept in `.data/dev` (shared with `npm start`, reused when already running).
 */
import {
  type LocalServices,
  localStateDir,
  startLocalServices,
} from '@historical-sync/local-stack';

export const DEV_POSTGRES_PORT = 54329;
export const DEV_REDIS_PORT = 63799;

export function startDevServices(options: { withRedis?: boolean } = {}): Promise<LocalServices> {
  return startLocalServices({
    stateDir: localStateDir('dev'),
    databaseUrl: process.env.DATABASE_URL,
    redisUrl: process.env.REDIS_URL,
    database: 'historical_sync',
    preferredPostgresPort: DEV_POSTGRES_PORT,
    preferredRedisPort: DEV_REDIS_PORT,
    ...options,
  });
}

/** Runs `main`, printing a failure as one line a person can act on and exiting non-zero. */
export function runMain(main: () => Promise<void>): void {
  main().catch((error: unknown) => {
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`error: ${message}\n`);
    process.exit(1);
  });
}
