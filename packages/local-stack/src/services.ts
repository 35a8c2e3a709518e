import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { type RunningService, startPostgres } from './postgres';
import { startRedis } from './redis';

export interface LocalServicesOptions {
  /** Git-ignored folder holding the servers' data and logs. */
  stateDir: string;
  /** Use this server instead of starting one (normally `process.env.DATABASE_URL`). */
  databaseUrl?: string | undefined;
  /** Use this server instead of starting one (normally `process.env.REDIS_URL`). */
  redisUrl?: string | undefined;
  /** Database created on the started Postgres and named in `databaseUrl`. */
  database?: string;
  /** Throw-away servers: durability off, and the state folder deleted on stop. */
  ephemeral?: boolean;
  /** Start Redis too (default); commands that only need Postgres pass false. */
  withRedis?: boolean;
  preferredPostgresPort?: number;
  preferredRedisPort?: number;
}

export interface LocalServices {
  databaseUrl: string;
  redisUrl: string;
  /** What was started here (and so is stopped by `stop`). */
  started: { postgres: boolean; redis: boolean };
  /** Where each server came from, for messages: started here, reused (and whose), or given. */
  postgres: ServiceOrigin;
  redis: ServiceOrigin;
  /** Stops what this call started; safe to call more than once. */
  stop(): Promise<void>;
}

export type ServiceOrigin = Pick<RunningService, 'origin' | 'startedBy' | 'pid' | 'dataDir'>;

const external = (url: string): RunningService => ({
  url,
  owned: false,
  origin: 'given',
  stop: async () => {},
});

const originOf = ({ origin, startedBy, pid, dataDir }: RunningService): ServiceOrigin => ({
  origin,
  startedBy,
  pid,
  dataDir,
});

/** Starts Postgres and Redis where no URL is given; both start in parallel. */
export async function startLocalServices(options: LocalServicesOptions): Promise<LocalServices> {
  const ephemeral = options.ephemeral ?? false;
  const [postgres, redis] = await Promise.allSettled([
    options.databaseUrl
      ? external(options.databaseUrl)
      : startPostgres({
          dataDir: join(options.stateDir, 'postgres'),
          database: options.database ?? 'historical_sync',
          ephemeral,
          ...(options.preferredPostgresPort
            ? { preferredPort: options.preferredPostgresPort }
            : {}),
        }),
    options.redisUrl || options.withRedis === false
      ? external(options.redisUrl ?? '')
      : startRedis({
          dataDir: join(options.stateDir, 'redis'),
          appendOnly: !ephemeral,
          ...(options.preferredRedisPort ? { preferredPort: options.preferredRedisPort } : {}),
        }),
  ]);
  if (postgres.status === 'rejected' || redis.status === 'rejected') {
    // Never leave one server running because the other failed.
    if (postgres.status === 'fulfilled') await postgres.value.stop();
    if (redis.status === 'fulfilled') await redis.value.stop();
    throw postgres.status === 'rejected'
      ? postgres.reason
      : (redis as PromiseRejectedResult).reason;
  }

  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      const results = await Promise.allSettled([postgres.value.stop(), redis.value.stop()]);
      if (ephemeral) await rm(options.stateDir, { recursive: true, force: true });
      const failed = results.find((r) => r.status === 'rejected');
      if (failed) throw (failed as PromiseRejectedResult).reason;
    })();
    return stopping;
  };

  return {
    databaseUrl: postgres.value.url,
    redisUrl: redis.value.url,
    started: { postgres: postgres.value.owned, redis: redis.value.owned },
    postgres: originOf(postgres.value),
    redis: originOf(redis.value),
    stop,
  };
}
