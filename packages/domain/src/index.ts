export {
  ConflictError,
  type EntityKind,
  NotFoundError,
  StaleCheckpointError,
  SyncError,
  UnknownEntityError,
} from './errors';
export * from './events';
export * from './services/credits';
export * from './services/memberships';
export * from './services/organizations';
