/** The API's configuration: one zod schema over the environment, parsed once at start. */
import { BackfillSettingsEnv, TenantQuotasEnv } from '@historical-sync/backfill';
import { LogLevel, parseEnv, SettingsError } from '@historical-sync/runtime';
import { z } from 'zod';
import { DEFAULT_DRY_RUN_LIMITS } from './http/dry-run-limit';

/** Documented development default; the start command prints it, production must override it. */
export const DEV_ADMIN_API_KEY = 'dev-admin-key';

/**
 * `TRUST_PROXY`: `false` (the peer address is the client), a comma list of the proxies' addresses
 * or CIDRs (the client is the last `X-Forwarded-For` address not in the list), or `true` (the
 * first `X-Forwarded-For` address is the client: only behind a proxy that overwrites the header,
 * since a client can put anything at its start).
 */
const PROXY_ENTRY = /^(?:[0-9A-Fa-f:.]+(?:\/\d{1,3})?|loopback|linklocal|uniquelocal)$/;
const trustProxy = z
  .string()
  .trim()
  .default('false')
  .refine(
    (value) =>
      value === 'true' ||
      value === 'false' ||
      value === '' ||
      value.split(',').every((entry) => PROXY_ENTRY.test(entry.trim())),
    'must be true, false, or a comma list of proxy addresses or CIDRs',
  )
  .transform((value): boolean | string[] => {
    if (value === '' || value === 'false') return false;
    if (value === 'true') return true;
    return value.split(',').map((entry) => entry.trim());
  });

export const ApiEnv = BackfillSettingsEnv.extend({
  ...TenantQuotasEnv.shape,
  /** The wrapper platform's Postgres. */
  DATABASE_URL: z.string().min(1),
  /**
   * A streaming replica of DATABASE_URL, where the dry run's and sync-status's row counts are
   * read (docs/REPLICA.md); everything else stays on DATABASE_URL. Unset or empty: the primary.
   */
  BACKFILL_DATABASE_URL: z
    .string()
    .optional()
    .transform((value) => value || undefined),
  /** Redis for queues and streams. */
  REDIS_URL: z.string().min(1),
  /** Where the API listens. */
  PORT: z.coerce.number().int().min(0).max(65_535).default(3000),
  HOST: z.string().default('127.0.0.1'),
  LOG_LEVEL: LogLevel.default('info'),
  /** Level of the one line logged per request; `npm start` sets `debug` so polling stays quiet. */
  REQUEST_LOG_LEVEL: LogLevel.default('info'),
  /** A platform-admin key that is never stored: it creates the stored keys (`hsync keys`). */
  ADMIN_API_KEY: z.string().min(8).default(DEV_ADMIN_API_KEY),
  /** Requests per minute per API key (429 beyond); 0 turns the limit off. */
  RATE_LIMIT_PER_MINUTE: z.coerce.number().int().min(0).default(6_000),
  /** Live run streams one API key may hold open in this process (429 beyond). */
  LIVE_STREAMS_PER_KEY: z.coerce.number().int().min(1).max(1_000).default(5),
  /**
   * Tenant keys' dry runs (each one count query per resource) running at once per tenant, and in
   * all, across every API process (429 beyond): bounds the active backends dry runs add to the
   * source, which past BACKFILL_SOURCE_MAX_ACTIVE pause every tenant's pages.
   */
  DRY_RUNS_PER_TENANT: z.coerce
    .number()
    .int()
    .min(1)
    .max(100)
    .default(DEFAULT_DRY_RUN_LIMITS.perTenant),
  DRY_RUNS_MAX: z.coerce.number().int().min(1).max(1_000).default(DEFAULT_DRY_RUN_LIMITS.total),
  /** How long an application may take to answer one verification request (docs/VERIFY.md). */
  VERIFY_ANSWER_TIMEOUT_MS: z.coerce.number().int().min(100).default(30_000),
  /** Verifications running at once in one API process, each on a Redis connection of its own. */
  VERIFY_MAX_CONCURRENT: z.coerce.number().int().min(1).max(64).default(2),
  /** Failed authentications a client address may make per minute (429 beyond; 0 = no limit). */
  FAILED_AUTH_PER_MINUTE: z.coerce.number().int().min(0).default(100),
  /** Whether, and which, proxies in front of the API name the client (`X-Forwarded-For`). */
  TRUST_PROXY: trustProxy,
  /**
   * Bull Board is read-only except retrying a failed job; `true` opens every action (add, clean,
   * remove, pause, ...).
   */
  BULL_BOARD_WRITABLE: z
    .enum(['true', 'false'], { error: 'must be true or false' })
    .default('false')
    .transform((value) => value === 'true'),
  /** How long a key lookup is cached; a revoke made through another API process applies within it. */
  API_KEY_CACHE_MS: z.coerce.number().int().min(0).default(5_000),
  /** The operator console's built files, served at /console (default: apps/console/dist). */
  CONSOLE_DIR: z.string().min(1).optional(),
  /** Largest request body accepted; larger ones get 413. */
  BODY_LIMIT_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .default(64 * 1024),
});
export type ApiConfig = z.infer<typeof ApiEnv>;

/** Addresses only this machine can reach. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '').toLowerCase();
  return (
    bare === 'localhost' ||
    bare === '::1' ||
    /^127(\.\d{1,3}){3}$/.test(bare) ||
    /^::ffff:127(\.\d{1,3}){3}$/.test(bare)
  );
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): ApiConfig {
  const config = parseEnv(ApiEnv, env);
  // The development key is public (it is in the README): only a loopback listener may accept it.
  // A SettingsError, like every other bad setting: one line and exit 2, not a stack trace.
  if (config.ADMIN_API_KEY === DEV_ADMIN_API_KEY && !isLoopbackHost(config.HOST)) {
    throw new SettingsError(
      `invalid setting ADMIN_API_KEY: the development key (${DEV_ADMIN_API_KEY}, used when ADMIN_API_KEY is unset) is accepted only on a loopback HOST, not on ${config.HOST}; set ADMIN_API_KEY to a secret of your own`,
    );
  }
  return config;
}
