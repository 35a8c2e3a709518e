import type { ColumnType, Kysely } from 'kysely';

type Synced = ColumnType<Date, Date | undefined, Date>;

export interface CrmDatabase {
  crm_organizations: {
    id: string;
    tenant_id: string;
    code: string | null;
    name: string | null;
    description: string | null;
    industry: string | null;
    website: string | null;
    parent_id: string | null;
    is_active: boolean;
    version: number;
    synced_at: Synced;
  };
  crm_memberships: {
    id: string;
    tenant_id: string;
    user_id: string | null;
    organization_id: string | null;
    role: string | null;
    is_active: boolean;
    version: number;
    synced_at: Synced;
  };
  crm_credit_allocations: {
    id: string;
    tenant_id: string;
    entity_id: string | null;
    amount: number | null;
    available_credits: number | null;
    expires_at: Date | null;
    is_active: boolean;
    version: number;
    synced_at: Synced;
  };
  crm_processed_events: { event_id: string; processed_at: Synced };
  crm_sync_runs: {
    run_id: string;
    tenant_id: string;
    resources: string[];
    completed_resources: ColumnType<string[], string[] | undefined, string[]>;
    counts: unknown;
    started_at: Synced;
    completed_at: Date | null;
    /** The run's entries in the dead-letter stream when last looked at (its last marker, a replay). */
    dead_lettered: ColumnType<number, number | undefined, number>;
  };
}

export type CrmDb = Kysely<CrmDatabase>;
