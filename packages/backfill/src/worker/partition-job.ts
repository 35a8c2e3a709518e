/** What the steps of a resource job share: the job itself, and where its publishing stands. */
import type { ResourceJobData } from '@historical-sync/contracts';
import type { Db } from '@historical-sync/db';
import type { Job } from 'bullmq';
import type { Logger } from 'pino';
import type { ReplicaGuard } from '../pacing/replica-guard';
import type { SourceGuard } from '../pacing/source-guard';
import type { Checkpoint, RedisClient } from '../publish/publisher';
import type { ResourceScope } from '../resources';
import type { PartitionRef } from '../runs/run-state';
import type { BackfillSettings } from '../settings';
import type { TenantLease } from './fair-share';

export interface ProcessorDeps {
  /** The primary: runs, checkpoints' mirror, the outbox, controls; and pages without `sourceDb`. */
  db: Db;
  /**
   * Where pages are read when not from `db`: a streaming replica of it
   * (BACKFILL_DATABASE_URL; docs/decisions/0015-replica-reads.md). An attempt reads it only once
   * the replica has replayed its run's start (worker/source-wait.ts `waitForReplica`).
   */
  sourceDb?: Db;
  redis: RedisClient;
  settings: BackfillSettings;
  logger: Logger;
  /** The process's source protection, when on (set by startBackfillWorkers). */
  sourceGuard?: SourceGuard;
  /** The process's governor on the replica's lag, when pages are read from one (ditto). */
  replicaGuard?: ReplicaGuard;
  /** Told about every published page, for the process's metrics. */
  onPagePublished?: (page: {
    resource: string;
    appCode: string;
    events: number;
    seconds: number;
  }) => void;
}

export interface ResourceJobResult {
  resource: string;
  published: number;
  total: number;
  outcome: 'completed' | 'cancelled' | 'skipped';
}

/** One attempt of a resource job at its partition. */
export interface PartitionJob {
  deps: ProcessorDeps;
  job: Job<ResourceJobData>;
  /** The attempt's lock token, needed to move the job (park, yield, hand back). */
  token: string | undefined;
  data: ResourceJobData;
  ref: PartitionRef;
  log: Logger;
}

/** A partition ready to publish: everything its page loop reads, prepared once per attempt. */
export interface PreparedPartition {
  lease: TenantLease;
  scope: ResourceScope;
  stream: string;
  checkpointKey: string;
  maxEventsPerSecond: number | null;
  progress: Progress;
}

/** Where the partition stands: its Redis checkpoint, and how much of it Postgres mirrors. */
export interface Progress {
  checkpoint: Checkpoint;
  total: number;
  /** The checkpoint count last mirrored to Postgres and the job. */
  mirrored: number;
}
