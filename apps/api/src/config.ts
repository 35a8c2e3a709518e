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
  /** Bearer token for the admin routes. */
  ADMIN_API_KEY: z.string().min(8).default(DEV_ADMIN_API_KEY),
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
