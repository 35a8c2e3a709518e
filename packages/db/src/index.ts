export {
  CAPTURE_DEFINITIONS,
  type CaptureDefinition,
  installCapture,
} from './capture';
export { createDb, createPool, type Db, type DbOptions, poolOf } from './client';
export { isConnectionError } from './errors';
export { migrateToLatest, runMigrations } from './migrate';
export { type OutboxBacklog, outboxBacklog } from './outbox';
export type * from './schema';
export {
  SeedError,
  type SeedOptions,
  type SeedProgress,
  type SeedResult,
  seedTenant,
} from './seed';
