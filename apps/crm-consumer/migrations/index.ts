import type { Migration } from 'kysely';
import * as projection from './2026-11-26T00-00_crm-projection';
import * as dedupeAgeAndDeadLetters from './2026-11-27T00-00_crm-dedupe-age-and-dead-letters';
import * as verifyRangeIndex from './2026-11-28T00-00_crm-verify-range-index';

/** The CRM database's migrations, in order. */
export const crmMigrations: Record<string, Migration> = {
  '2026-11-26T00-00_crm-projection': projection,
  '2026-11-27T00-00_crm-dedupe-age-and-dead-letters': dedupeAgeAndDeadLetters,
  '2026-11-28T00-00_crm-verify-range-index': verifyRangeIndex,
};
