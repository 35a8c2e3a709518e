export { crmMigrations } from '../migrations/index';
export { type ApplyOutcome, applyEvent, inSyncSince } from './projection';
export type { CrmDatabase, CrmDb } from './schema';
