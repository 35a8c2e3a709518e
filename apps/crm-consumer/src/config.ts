/** The CRM consumer's configuration: one zod schema over the environment, parsed once at start. */
import { hostname } from 'node:os';
import { LogLevel, parseEnv } from '@historical-sync/runtime';
import { z } from 'zod';

export const CrmEnv = z.object({
  /** The CRM's own database (its projection), separate from the wrapper's. */
  CRM_DATABASE_URL: z.string().min(1),
  REDIS_URL: z.string().min(1),
  STREAM_PREFIX: z.string().default(''),
  /** The application this consumer is. */
  CRM_APP_CODE: z.string().min(1).default('crm'),
  /** Consumer group: every CRM process shares it and so shares the work. */
  CRM_CONSUMER_GROUP: z.string().min(1).default('crm'),
  /** This process's name in the group. */
  CRM_CONSUMER_NAME: z.string().min(1).default(`${hostname()}-${process.pid}`),
  CRM_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(8),
  CRM_BATCH_SIZE: z.coerce.number().int().min(1).max(10_000).default(200),
  /** Entries pending this long (a dead consumer's) are claimed by a live one. */
  CRM_CLAIM_IDLE_MS: z.coerce.number().int().min(100).default(30_000),
  /** How often entries pending past CRM_CLAIM_IDLE_MS are looked for. */
  CRM_CLAIM_INTERVAL_MS: z.coerce.number().int().min(50).default(5_000),
  /** Deliveries of an entry that fails on its own (not in an outage) before it is dead-lettered. */
  CRM_MAX_DELIVERIES: z.coerce.number().int().min(1).default(5),
  /** The bound on the backoff between tries while the CRM's database or Redis is unreachable. */
  CRM_OUTAGE_MAX_BACKOFF_MS: z.coerce.number().int().min(10).default(30_000),
  /** Dedupe ids (crm_processed_events) are kept this long, then pruned. */
  CRM_DEDUPE_RETENTION_MS: z.coerce.number().int().min(0).default(86_400_000),
  CRM_DEDUPE_PRUNE_INTERVAL_MS: z.coerce.number().int().min(10).default(60_000),
  LOG_LEVEL: LogLevel.default('info'),
});
export type CrmConfig = z.infer<typeof CrmEnv>;

export function loadConfig(env: NodeJS.ProcessEnv = process.env): CrmConfig {
  return parseEnv(CrmEnv, env);
}

/** The CRM's dead-letter stream: entries it gave up on, kept for `replay-dead-letters`. */
export function deadLetterStream(
  config: Pick<CrmConfig, 'STREAM_PREFIX' | 'CRM_APP_CODE'>,
): string {
  return `${config.STREAM_PREFIX}${config.CRM_APP_CODE}:dead-letter`;
}
