import type { Migration } from 'kysely';
import * as projection from './2026-11-26T00-00_crm-projection';

/** The CRM database's migrations, in order. */
export const crmMigrations: Record<string, Migration> = {
  '2026-11-26T00-00_crm-projection': projection,
};
