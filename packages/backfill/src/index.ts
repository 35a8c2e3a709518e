export {
  ConflictError,
  NotFoundError,
  StaleCheckpointError,
  SyncError,
  UnknownEntityError,
} from '@historical-sync/domain';
export { type ApiHealthPublisher, startApiHealthPublisher } from './pacing/api-health';
export { streamBacklog } from './pacing/flow-control';
export { type RedisMemory, ratio as memoryRatio, redisMemory } from './pacing/redis-memory';
export { renderPageCommands } from './publish/page-commands';
export {
  type Checkpoint,
  checkpointKey,
  publishPage,
  type RedisClient,
  readCheckpoint,
} from './publish/publisher';
export { type BarrierDeps, raiseRunBarrier } from './publish/run-barrier';
export { listRuns, type RunFilter } from './read-models/run-history';
export { type RunRate, RunRateTracker } from './read-models/run-rate';
export { getSyncStatus, viewRun } from './read-models/status';
export { systemStatus } from './read-models/system-status';
export { listTenants, type TenantQuery, tenantApplications } from './read-models/tenant-directory';
export { xaddPrefix } from './redis/resp';
export { detachGroup, type StreamReport, streamReport } from './redis/stream-report';
export {
  lastRetentionPass,
  type RetentionSettings,
  retentionKeys,
  streamRetention,
  systemStreams,
  trimStream,
  trimSystemStreams,
} from './redis/stream-retention';
export {
  countResources,
  defineResource,
  RESOURCE_DEFINITIONS,
  type ResourceDefinition,
  renderPage,
} from './resources';
export { controlRun } from './runs/controls';
export { type ToggleRequest, type ToggleResult, toggleApplication } from './runs/enablement';
export { BackfillQueues, discardCancelledRun, enqueueInBackground, sweepRuns } from './runs/queues';
export {
  enforceRunQuotas,
  lockTenantRuns,
  QuotaExceededError,
} from './runs/quotas';
export { retryRun } from './runs/run-retry';
export {
  ACTIVE_RUN_STATUSES,
  allowedActions,
  FINAL_RUN_STATUSES,
  PARTITION_TRANSITIONS,
  type PartitionStatus,
  RUN_STATUSES,
  RUN_TRANSITIONS,
  type RunStatus,
} from './runs/run-state';
export {
  createRun,
  getLatestRun,
  getRun,
  getTenantRun,
  type RunWithResources,
} from './runs/runs';
export { requestSync, type SyncRequest, type SyncResult } from './runs/sync';
export { getApplication, getTenant, runNotFound, tenantNotFound } from './runs/tenants';
export {
  type BackfillSettings,
  BackfillSettingsEnv,
  backfillSettingsFrom,
  DEFAULT_RETENTION,
  memoryHighRatioOf,
  type StreamRetention,
  type TenantQuotas,
  TenantQuotasEnv,
  tenantQuotasFrom,
} from './settings';
export { ApplicationUnavailableError } from './verify/application';
export {
  parseVerifySchedule,
  type ScheduledApplication,
  type ScheduledOutcome,
  schedulePassIntervalMs,
  unknownScheduledApplications,
  VERIFY_SCHEDULE_FORM,
  verifyScheduledPass,
} from './verify/schedule';
export {
  latestVerification,
  pruneVerifications,
  type VerifyDeps,
  verifyApplication,
} from './verify/verification';
export {
  startWorkerHeartbeat,
  type WorkerHeartbeat,
  type WorkerHeartbeatOptions,
} from './worker/heartbeat';
export {
  type BackfillWorkers,
  startBackfillWorkers,
  type WorkerOptions,
} from './worker/start-workers';
