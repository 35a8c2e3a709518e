/** The API's configuration: one zod schema over the environment, parsed once at start. */
import { BackfillSettingsEnv } from '@historical-sync/backfill';
import { parseEnv } from '@historical-sync/runtime';
import { z } from 'zod';

/** Documented development default; the start command prints it, production must override it. */
export const DEV_ADMIN_API_KEY = 'dev-admin-key';

export const ApiEnv = BackfillSettingsEnv.extend({
  /** The wrapper platform's Postgres. */
  DATABASE_URL: z.string().min(1),
  /** Redis for queues and streams. */
  REDIS_URL: z.string().min(1),
  /** Where the API listens. */
  PORT: z.coerce.number().int().min(0).max(65_535).default(3000),
  HOST: z.string().default('127.0.0.1'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Level of the one line logged per request; `npm start` sets `debug` so polling stays quiet. */
  REQUEST_LOG_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
    .default('info'),
  /** A platform-admin key that is never stored: it creates the stored keys (`hsync keys`). */
  ADMIN_API_KEY: z.string().min(8).default(DEV_ADMIN_API_KEY),
  /** Requests per minute per API key (429 beyond); 0 turns the limit off. */
  RATE_LIMIT_PER_MINUTE: z.coerce.number().int().min(0).default(6_000),
  /** Failed authentications a client address may make per minute (429 beyond; 0 = no limit). */
  FAILED_AUTH_PER_MINUTE: z.coerce.number().int().min(0).default(100),
  /** How long a key lookup is cached; a revoke made through another API process applies within it. */
  API_KEY_CACHE_MS: z.coerce.number().int().min(0).default(5_000),
  /** Largest request body accepted; larger ones get 413. */
  BODY_LIMIT_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .default(64 * 1024),
});
export type ApiConfig = z.infer<typeof ApiEnv>;

export function loadConfig(env: NodeJS.ProcessEnv = process.env): ApiConfig {
  return parseEnv(ApiEnv, env);
}
