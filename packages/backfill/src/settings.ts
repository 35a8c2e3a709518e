import { z } from 'zod';
import type { ReplicaLagLimit } from './pacing/replica-guard';
import type { SourceProtection } from './pacing/source-guard';

export interface StreamRetention {
  /** Acknowledged entries younger than this stay; 0 = trimmed once every group acknowledged. */
  windowMs: number;
  /** A stream with no consumer group keeps its entries this long. */
  ungroupedWindowMs: number;
  /** A group with entries to read whose consumers have not read for this long is stalled. */
  groupStalledMs: number;
}

export const DEFAULT_RETENTION: StreamRetention = {
  windowMs: 0,
  ungroupedWindowMs: 7 * 24 * 3600 * 1000,
  groupStalledMs: 3_600_000,
};

/**
 * Settings the API and the workers must agree on (both read them from the environment), so that
 * jobs, checkpoints and streams meet under the same names.
 */
export const BackfillSettingsEnv = z.object({
  /** BullMQ key prefix. Wrap it in braces (e.g. `{hs}`) on Redis Cluster. */
  QUEUE_PREFIX: z.string().min(1).default('hs'),
  /** Prepended to every stream name; empty in production, unique per test or environment. */
  STREAM_PREFIX: z.string().default(''),
  /** Rows per page, and so events per atomic publish, unless a run says otherwise. */
  BACKFILL_PAGE_SIZE: z.coerce.number().int().min(1).max(10_000).default(1000),
  /** Id-range partitions per resource, each its own job: more lets more workers share a resource. */
  BACKFILL_PARTITIONS: z.coerce.number().int().min(1).max(256).default(1),
  /**
   * Flow control: a backfill waits while any consumer group of its target stream has more than
   * this many unacknowledged entries; 0 = never wait.
   */
  BACKFILL_MAX_STREAM_BACKLOG: z.coerce.number().int().min(0).default(1_000_000),
  /**
   * Flow control on what fills Redis: a backfill waits while Redis's used memory is over this
   * percentage of its `maxmemory` (no limit set = never waits); 0 = never wait.
   */
  BACKFILL_REDIS_MEMORY_PERCENT: z.coerce.number().int().min(0).max(100).default(80),
  /**
   * Fairness between tenants: a job that has published for this long goes to the back of its
   * queue when other jobs are waiting there, and resumes from its checkpoint at its next turn;
   * 0 = a job runs to its end.
   */
  BACKFILL_TIME_SLICE_MS: z.coerce.number().int().min(0).default(2_000),
  /** Default cap on a run's publish rate, across all its resources; 0 = unlimited. */
  BACKFILL_MAX_EVENTS_PER_SECOND: z.coerce.number().int().min(0).default(0),
  /** Source protection (source-guard.ts): `on`, or `off` to publish at full speed whatever the source's load. */
  BACKFILL_SOURCE_PROTECTION: z.enum(['on', 'off']).default('on'),
  /** A health probe of the source slower than this slows the pages; 0 = latency not looked at. */
  BACKFILL_SOURCE_LATENCY_MS: z.coerce.number().int().min(0).default(20),
  /** More active backends of other clients than this pause the pages; 0 = not looked at. */
  BACKFILL_SOURCE_MAX_ACTIVE: z.coerce.number().int().min(0).default(16),
  /** More backends waiting on a lock than this pause the pages; 0 = not looked at. */
  BACKFILL_SOURCE_MAX_LOCK_WAITS: z.coerce.number().int().min(0).default(4),
  /** How often each worker process probes the source while it publishes. */
  BACKFILL_SOURCE_PROBE_MS: z.coerce.number().int().min(10).default(250),
  /**
   * An API process whose event loop runs later than this (ms, p99 over its last quarter second)
   * slows the pages; 0 = the API's health is neither published nor looked at.
   */
  BACKFILL_API_LAG_MS: z.coerce.number().int().min(0).default(30),
  BACKFILL_API_DB_QUEUE: z.coerce.number().min(0).default(1),
  /**
   * When a worker reads pages from a streaming replica (the worker's BACKFILL_DATABASE_URL,
   * docs/REPLICA.md): a replica whose data is behind its primary by more than this (ms) slows the
   * pages, by more than twice this pauses them; 0 = the lag is not looked at. Probed every
   * BACKFILL_SOURCE_PROBE_MS.
   */
  BACKFILL_REPLICA_MAX_LAG_MS: z.coerce.number().int().min(0).default(5_000),
  /**
   * Stream retention: acknowledged entries younger than this stay on their stream for debugging;
   * 0 = trimmed as soon as every consumer group has acknowledged them.
   */
  STREAM_RETENTION_MS: z.coerce.number().int().min(0).default(0),
  /**
   * How long a stream with no consumer group keeps its entries (an application enabled before its
   * consumer first started reads them when it starts); older ones are trimmed unread.
   */
  STREAM_RETENTION_UNGROUPED_MS: z.coerce
    .number()
    .int()
    .min(0)
    .default(7 * 24 * 3600 * 1000),
  /**
   * A consumer group with entries to read whose consumers have not read for this long is reported
   * stalled (System page, `/metrics`); it is never detached by itself.
   */
  STREAM_GROUP_STALLED_MS: z.coerce.number().int().min(1000).default(3_600_000),
});

export interface BackfillSettings {
  queuePrefix: string;
  streamPrefix: string;
  pageSize: number;
  /** null = unlimited. */
  maxEventsPerSecond: number | null;
  partitions: number;
  /** null = no flow control. */
  maxStreamBacklog: number | null;
  /** Used / max memory over which a backfill waits; null = never (absent: 0.8). */
  redisMemoryHighRatio?: number | null;
  /** 0 = a job runs to its end even when others wait. */
  timeSliceMs: number;
  /** What the streams keep (stream-retention.ts); absent = the environment's defaults. */
  retention?: StreamRetention;
  /** null or absent = source protection off (the environment's default is on). */
  sourceProtection?: SourceProtection | null;
  /**
   * The governor on a replica's lag (replica-guard.ts), used only by a worker that reads pages
   * from a replica; null or absent = the lag is not looked at.
   */
  replicaLag?: ReplicaLagLimit | null;
}

/** The backfill's memory high mark (used / max): the setting, or 0.8 when a caller left it out. */
export const memoryHighRatioOf = (settings: BackfillSettings): number | null =>
  settings.redisMemoryHighRatio === undefined ? 0.8 : settings.redisMemoryHighRatio;

export function backfillSettingsFrom(env: z.infer<typeof BackfillSettingsEnv>): BackfillSettings {
  return {
    queuePrefix: env.QUEUE_PREFIX,
    streamPrefix: env.STREAM_PREFIX,
    pageSize: env.BACKFILL_PAGE_SIZE,
    maxEventsPerSecond: env.BACKFILL_MAX_EVENTS_PER_SECOND || null,
    partitions: env.BACKFILL_PARTITIONS,
    maxStreamBacklog: env.BACKFILL_MAX_STREAM_BACKLOG || null,
    redisMemoryHighRatio: env.BACKFILL_REDIS_MEMORY_PERCENT / 100 || null,
    timeSliceMs: env.BACKFILL_TIME_SLICE_MS,
    retention: {
      windowMs: env.STREAM_RETENTION_MS,
      ungroupedWindowMs: env.STREAM_RETENTION_UNGROUPED_MS,
      groupStalledMs: env.STREAM_GROUP_STALLED_MS,
    },
    sourceProtection:
      env.BACKFILL_SOURCE_PROTECTION === 'off'
        ? null
        : {
            latencyMs: env.BACKFILL_SOURCE_LATENCY_MS || null,
            maxActiveBackends: env.BACKFILL_SOURCE_MAX_ACTIVE || null,
            maxLockWaits: env.BACKFILL_SOURCE_MAX_LOCK_WAITS || null,
            probeIntervalMs: env.BACKFILL_SOURCE_PROBE_MS,
            apiLagMs: env.BACKFILL_API_LAG_MS || null,
            apiDbQueue: env.BACKFILL_API_DB_QUEUE || null,
          },
    replicaLag: env.BACKFILL_REPLICA_MAX_LAG_MS
      ? { maxLagMs: env.BACKFILL_REPLICA_MAX_LAG_MS, probeIntervalMs: env.BACKFILL_SOURCE_PROBE_MS }
      : null,
  };
}

/**
 * Quotas on what a tenant key may start. The run counts are per tenant, across its applications,
 * and count every run of the tenant whoever started it; the per-run values bound what a tenant key
 * may ask for (admin keys go up to the hard validation limits). 0 turns a count quota off.
 */
export const TenantQuotasEnv = z.object({
  /** Active (queued, running, paused) runs a tenant may have at once. */
  TENANT_MAX_ACTIVE_RUNS: z.coerce.number().int().min(0).default(3),
  /** Runs a tenant key may start per tenant in any hour (a sliding window). */
  TENANT_MAX_RUNS_PER_HOUR: z.coerce.number().int().min(0).default(20),
  /** Largest `pageSize` a tenant key may choose. */
  TENANT_MAX_PAGE_SIZE: z.coerce.number().int().min(1).max(10_000).default(5_000),
  /** Largest `maxEventsPerSecond` a tenant key may choose. */
  TENANT_MAX_EVENTS_PER_SECOND: z.coerce.number().int().min(1).max(10_000_000).default(100_000),
  /** Largest `partitions` a tenant key may choose. */
  TENANT_MAX_PARTITIONS: z.coerce.number().int().min(1).max(256).default(16),
  /**
   * Verifications a tenant key may start per tenant in any hour: each reads every row of the
   * tenant's resources once at the source (docs/VERIFY.md).
   */
  TENANT_MAX_VERIFICATIONS_PER_HOUR: z.coerce.number().int().min(0).default(6),
});

export interface TenantQuotas {
  /** 0 = no limit. */
  maxActiveRuns: number;
  /** 0 = no limit. */
  maxRunsPerHour: number;
  maxPageSize: number;
  maxEventsPerSecond: number;
  maxPartitions: number;
  /** 0 = no limit. */
  maxVerificationsPerHour: number;
}

export function tenantQuotasFrom(env: z.infer<typeof TenantQuotasEnv>): TenantQuotas {
  return {
    maxActiveRuns: env.TENANT_MAX_ACTIVE_RUNS,
    maxRunsPerHour: env.TENANT_MAX_RUNS_PER_HOUR,
    maxPageSize: env.TENANT_MAX_PAGE_SIZE,
    maxEventsPerSecond: env.TENANT_MAX_EVENTS_PER_SECOND,
    maxPartitions: env.TENANT_MAX_PARTITIONS,
    maxVerificationsPerHour: env.TENANT_MAX_VERIFICATIONS_PER_HOUR,
  };
}
