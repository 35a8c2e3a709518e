export {
  ConflictError,
  NotFoundError,
  StaleCheckpointError,
  SyncError,
  UnknownEntityError,
} from '@historical-sync/domain';
export { type ApiHealthPublisher, startApiHealthPublisher } from './api-health';
export { controlRun } from './controls';
export { type ToggleRequest, type ToggleResult, toggleApplication } from './enablement';
export { streamBacklog } from './flow-control';
export {
  type Checkpoint,
  checkpointKey,
  publishPage,
  type RedisClient,
  readCheckpoint,
} from './publisher';
export { BackfillQueues, discardCancelledRun, enqueueInBackground, sweepRuns } from './queues';
export {
  enforceRunQuotas,
  lockTenantRuns,
  QuotaExceededError,
} from './quotas';
export { type RedisMemory, ratio as memoryRatio, redisMemory } from './redis-memory';
export {
  countResources,
  defineResource,
  RESOURCE_DEFINITIONS,
  type ResourceDefinition,
  renderPage,
  renderPageCommands,
} from './resources';
export { xaddPrefix } from './resp';
export { type BarrierDeps, raiseRunBarrier } from './run-barrier';
export { listRuns, type RunFilter } from './run-history';
export { type RunRate, RunRateTracker } from './run-rate';
export { retryRun } from './run-retry';
export {
  ACTIVE_RUN_STATUSES,
  allowedActions,
  FINAL_RUN_STATUSES,
  PARTITION_TRANSITIONS,
  type PartitionStatus,
  RUN_STATUSES,
  RUN_TRANSITIONS,
  type RunStatus,
} from './run-state';
export {
  createRun,
  getLatestRun,
  getRun,
  getTenantRun,
  type RunWithResources,
} from './runs';
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
export { getSyncStatus, viewRun } from './status';
export { detachGroup, type StreamReport, streamReport } from './stream-report';
export {
  lastRetentionPass,
  type RetentionSettings,
  retentionKeys,
  streamRetention,
  systemStreams,
  trimStream,
  trimSystemStreams,
} from './stream-retention';
export { requestSync, type SyncRequest, type SyncResult } from './sync';
export { systemStatus } from './system-status';
export { listTenants, type TenantQuery, tenantApplications } from './tenant-directory';
export { getApplication, getTenant, runNotFound, tenantNotFound } from './tenants';
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
  type BackfillWorkers,
  startBackfillWorkers,
  type WorkerOptions,
} from './worker/start-workers';
export {
  startWorkerHeartbeat,
  type WorkerHeartbeat,
  type WorkerHeartbeatOptions,
} from './worker-heartbeat';
