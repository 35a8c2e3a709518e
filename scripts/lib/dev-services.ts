/**
 * The services a root command talks to: the URLs from the environment when given, else those of
 * the `npm start` running in this folder (scripts/lib/running-stack.ts), else the local
 * development servers kept in `.data/dev` (shared with `npm start`, reused when already running).
 */
import { relative } from 'node:path';
import {
  findWorkspaceRoot,
  type LocalServices,
  type ServiceOrigin,
  startLocalServices,
} from '@historical-sync/local-stack';
import { redactUrl } from '@historical-sync/runtime';
import { devStateDir, readRunningStack } from './running-stack';
import { describeOrigin } from './summary';

export const DEV_POSTGRES_PORT = 54329;
export const DEV_REDIS_PORT = 63799;

export interface DevServicesOptions {
  /** Start (or find) Redis too (default); commands that only need Postgres pass false. */
  withRedis?: boolean;
  /** Use the servers of a running npm start of this folder (default); npm start itself does not. */
  useRunningStack?: boolean;
  /**
   * The command's name: it then prints one line on stderr saying which servers it uses and
   * where they come from, so a seed never lands in a database the user did not expect.
   */
  announce?: string;
}

/** The state folder as a person reads it: relative to the checkout when inside it. */
export function devDataLabel(): string {
  const root = findWorkspaceRoot();
  const stateDir = devStateDir();
  return stateDir.startsWith(root) ? relative(root, stateDir) : stateDir;
}

export async function startDevServices(options: DevServicesOptions = {}): Promise<LocalServices> {
  const withRedis = options.withRedis ?? true;
  const fromEnv = { postgres: process.env.DATABASE_URL, redis: process.env.REDIS_URL };
  const needsLookup = !fromEnv.postgres || (withRedis && !fromEnv.redis);
  const running =
    (options.useRunningStack ?? true) && needsLookup ? await readRunningStack() : undefined;
  const services = await startLocalServices({
    stateDir: devStateDir(),
    databaseUrl: fromEnv.postgres ?? running?.databaseUrl,
    redisUrl: fromEnv.redis ?? (withRedis ? running?.redisUrl : undefined),
    database: 'historical_sync',
    preferredPostgresPort: DEV_POSTGRES_PORT,
    preferredRedisPort: DEV_REDIS_PORT,
    withRedis,
  });
  if (options.announce) {
    const name = options.announce;
    // A URL from the environment wins, then the running npm start's; the rest is local-stack's.
    const source = (variable: string, url: string | undefined, origin: ServiceOrigin) => {
      if (url) return `from ${variable}`;
      if (origin.origin === 'given')
        return `the npm start running in this folder, pid ${running?.pid}`;
      const stops = origin.origin === 'started' ? `; stopped when ${name} ends` : '';
      return `${describeOrigin(origin, devDataLabel())}${stops}`;
    };
    const parts = [
      `Postgres ${redactUrl(services.databaseUrl)} (${source('DATABASE_URL', fromEnv.postgres, services.postgres)})`,
    ];
    if (withRedis) {
      parts.push(
        `Redis ${redactUrl(services.redisUrl)} (${source('REDIS_URL', fromEnv.redis, services.redis)})`,
      );
    }
    process.stderr.write(`${name}: using ${parts.join(', ')}\n`);
  }
  return services;
}

/** Runs `main`, printing a failure as one line a person can act on and exiting non-zero. */
export function runMain(main: () => Promise<void>): void {
  main().catch((error: unknown) => {
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`error: ${message}\n`);
    process.exit(1);
  });
}
