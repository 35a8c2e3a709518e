/** What the steps of a resource job share: the job itself, and where its publishing stands. */
import type { ResourceJobData } from '@historical-sync/contracts';
import type { Db } from '@historical-sync/db';
import type { Job } from 'bullmq';
import type { Logger } from 'pino';
import type { Checkpoint, RedisClient } from '../publisher';
import type { ResourceScope } from '../resources';
import type { PartitionRef } from '../run-state';
import type { BackfillSettings } from '../settings';
import type { SourceGuard } from '../source-guard';
import type { TenantLease } from './fair-share';

export interface ProcessorDeps {
  db: Db;
  redis: RedisClient;
  settings: BackfillSettings;
  logger: Logger;
  /** The process's source protection, when on (set by startBackfillWorkers). */
  sourceGuard?: SourceGuard;
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
