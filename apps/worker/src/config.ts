/** The worker's configuration: one zod schema over the environment, parsed once at start. */
import {
  BackfillSettingsEnv,
  parseVerifySchedule,
  VERIFY_SCHEDULE_FORM,
} from '@historical-sync/backfill';
import { RESOURCES } from '@historical-sync/contracts';
import { LogLevel, parseEnv } from '@historical-sync/runtime';
import { z } from 'zod';

/** What one worker process can do; containers pick a subset to scale each on its own. */
export const WORKER_ROLES = ['runs', ...RESOURCES, 'relay', 'sweeper'] as const;
export type WorkerRole = (typeof WORKER_ROLES)[number];

export const WorkerEnv = BackfillSettingsEnv.extend({
  DATABASE_URL: z.string().min(1),
  /**
   * A streaming replica of DATABASE_URL to read backfill pages from (docs/REPLICA.md); unset or
   * empty = pages are read from DATABASE_URL. Runs, checkpoints, the outbox and controls stay on
   * DATABASE_URL either way.
   */
  BACKFILL_DATABASE_URL: z
    .string()
    .optional()
    .transform((value) => value || undefined),
  REDIS_URL: z.string().min(1),
  LOG_LEVEL: LogLevel.default('info'),
  /**
   * What this process does: `all`, or a comma list of runs, credits, organizations, memberships
   * (backfill queues), relay (outbox to streams) and sweeper (re-enqueues stuck queued runs, and
   * trims the streams of what every consumer group has acknowledged).
   */
  WORKER_ROLES: z
    .string()
    .default('all')
    .transform((value) =>
      value === 'all' ? [...WORKER_ROLES] : value.split(',').map((q) => q.trim()),
    )
    .pipe(z.array(z.enum(WORKER_ROLES)).min(1)),
  /** Jobs processed at once per queue. */
  WORKER_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(2),
  /** A dead worker's job is retaken after at most this long. */
  WORKER_LOCK_DURATION_MS: z.coerce.number().int().min(1000).default(30_000),
  WORKER_STALLED_INTERVAL_MS: z.coerce.number().int().min(500).default(15_000),
  /** Runs still queued after this long are enqueued again (their first enqueue may have failed). */
  SWEEP_QUEUED_AFTER_MS: z.coerce.number().int().min(0).default(30_000),
  SWEEP_INTERVAL_MS: z.coerce.number().int().min(100).default(10_000),
  /** How often the streams are trimmed. */
  STREAM_TRIM_INTERVAL_MS: z.coerce.number().int().min(100).default(5_000),
  /** Outbox rows per relay batch. */
  RELAY_BATCH_SIZE: z.coerce.number().int().min(1).max(10_000).default(500),
  /** The relay polls this often when no NOTIFY arrives. */
  RELAY_POLL_INTERVAL_MS: z.coerce.number().int().min(10).default(1_000),
  /** Serve Prometheus metrics (and /health) on this port; 0 = off. */
  WORKER_METRICS_PORT: z.coerce.number().int().min(0).max(65_535).default(0),
  /**
   * Verifications the sweeper role starts by itself (docs/VERIFY.md): `crm=24h:repair,hr=7d`, per
   * application an interval and whether to repair; unset or empty = none.
   */
  VERIFY_SCHEDULE: z
    .string()
    .optional()
    .transform((value, ctx) => {
      try {
        return parseVerifySchedule(value);
      } catch (error) {
        ctx.addIssue({
          code: 'custom',
          message: `${VERIFY_SCHEDULE_FORM}; ${(error as Error).message}`,
        });
        return z.NEVER;
      }
    }),
  /** Published outbox rows are deleted after this long. */
  OUTBOX_RETENTION_MS: z.coerce
    .number()
    .int()
    .min(0)
    .default(7 * 24 * 3600 * 1000),
});
export type WorkerConfig = z.infer<typeof WorkerEnv>;

export function loadConfig(env: NodeJS.ProcessEnv = process.env): WorkerConfig {
  return parseEnv(WorkerEnv, env);
}
