/** The CRM consumer's configuration: one zod schema over the environment, parsed once at start. */
import { hostname } from 'node:os';
import { parseEnv } from '@historical-sync/runtime';
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
  CRM_MAX_DELIVERIES: z.coerce.number().int().min(1).default(5),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});
export type CrmConfig = z.infer<typeof CrmEnv>;

export function loadConfig(env: NodeJS.ProcessEnv = process.env): CrmConfig {
  return parseEnv(CrmEnv, env);
}
