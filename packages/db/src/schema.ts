/**
 * Kysely table types. Columns the database fills (`Generated`) are optional on insert;
 * nullable columns are `T | null`, never optional. `version` and `updated_at` are owned by the
 * `bump_row_version` trigger: callers never set them.
 */
import type { RunResourceStatus, RunStatus, RunTrigger } from '@historical-sync/contracts';
import type { ColumnType, Generated, Insertable, Selectable, Updateable } from 'kysely';

// The run vocabulary is the contracts' (run-vocabulary.ts): the columns below hold its words.
export type { RunResourceStatus, RunStatus };

/** A trigger- or default-maintained timestamp: read as Date, optional on insert. */
type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;
/** Maintained by the version trigger: readable, never written by callers. */
type Version = ColumnType<number, never, never>;

export interface TenantsTable {
  id: Generated<string>;
  name: string;
  version: Version;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface ApplicationsTable {
  id: Generated<string>;
  code: string;
  name: string;
  version: Version;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface EntitiesTable {
  id: Generated<string>;
  tenant_id: string;
  /** 'organization' among others; only organizations are synced to applications. */
  entity_type: string;
  code: string;
  name: string;
  description: string | null;
  industry: string | null;
  website: string | null;
  parent_id: string | null;
  is_active: Generated<boolean>;
  version: Version;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface CreditAllocationsTable {
  id: Generated<string>;
  tenant_id: string;
  entity_id: string;
  /** Application code the credits are for. */
  target_application: string;
  allocated_amount: number;
  available_credits: number;
  expires_at: Date | null;
  is_active: Generated<boolean>;
  allocated_at: Timestamp;
  version: Version;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface OrganizationMembershipsTable {
  id: Generated<string>;
  tenant_id: string;
  user_id: string;
  organization_id: string;
  role: string;
  is_active: Generated<boolean>;
  version: Version;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface OrganizationApplicationsTable {
  tenant_id: string;
  application_id: string;
  is_enabled: boolean;
  enabled_at: Date | null;
  disabled_at: Date | null;
  version: Version;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface Database {
  tenants: TenantsTable;
  applications: ApplicationsTable;
  entities: EntitiesTable;
  credit_allocations: CreditAllocationsTable;
  organization_memberships: OrganizationMembershipsTable;
  organization_applications: OrganizationApplicationsTable;
  backfill_runs: BackfillRunsTable;
  backfill_run_resources: BackfillRunResourcesTable;
  outbox: OutboxTable;
  backfill_run_partitions: BackfillRunPartitionsTable;
  backfill_run_rows: BackfillRunRowsTable;
  api_keys: ApiKeysTable;
  verifications: VerificationsTable;
}

export type Tenant = Selectable<TenantsTable>;
export type NewTenant = Insertable<TenantsTable>;
export type Application = Selectable<ApplicationsTable>;
export type Entity = Selectable<EntitiesTable>;
export type NewEntity = Insertable<EntitiesTable>;
export type EntityUpdate = Updateable<EntitiesTable>;
export type CreditAllocation = Selectable<CreditAllocationsTable>;
export type NewCreditAllocation = Insertable<CreditAllocationsTable>;
export type CreditAllocationUpdate = Updateable<CreditAllocationsTable>;
export type OrganizationMembership = Selectable<OrganizationMembershipsTable>;
export type NewOrganizationMembership = Insertable<OrganizationMembershipsTable>;
export type OrganizationApplication = Selectable<OrganizationApplicationsTable>;

export interface BackfillRunsTable {
  id: Generated<string>;
  tenant_id: string;
  application_id: string;
  app_code: string;
  status: ColumnType<RunStatus, RunStatus | undefined, RunStatus>;
  /** What started the run: an enable, a manual sync, or a verification's repair. */
  trigger: RunTrigger;
  since_date: Date | null;
  page_size: number;
  max_events_per_second: ColumnType<number | null, number | null | undefined, number | null>;
  /** Id-range partitions per resource, each its own job. */
  partitions: ColumnType<number, number | undefined, number>;
  /** Number of the run's latest pause / resume / cancel (0: none), mirrored in its control keys. */
  control_seq: ColumnType<number, never, number>;
  last_error: ColumnType<string | null, string | null | undefined, string | null>;
  created_at: Timestamp;
  started_at: ColumnType<Date | null, Date | null | undefined, Date | null>;
  finished_at: ColumnType<Date | null, Date | null | undefined, Date | null>;
  updated_at: Timestamp;
}

export interface BackfillRunResourcesTable {
  run_id: string;
  resource: 'credits' | 'organizations' | 'memberships';
  status: ColumnType<RunResourceStatus, RunResourceStatus | undefined, RunResourceStatus>;
  total: ColumnType<number | null, number | null | undefined, number | null>;
  published: ColumnType<number, number | undefined, number>;
  last_error: ColumnType<string | null, string | null | undefined, string | null>;
  /** Why its pages are slowed or paused by the source's load; null at full speed. */
  source_throttle: ColumnType<string | null, string | null | undefined, string | null>;
  started_at: ColumnType<Date | null, Date | null | undefined, Date | null>;
  finished_at: ColumnType<Date | null, Date | null | undefined, Date | null>;
  updated_at: Timestamp;
}

/** The rows a repair run (trigger `verify`) publishes, per resource, in id order. */
export interface BackfillRunRowsTable {
  run_id: string;
  resource: string;
  row_id: string;
}

export interface BackfillRunPartitionsTable {
  run_id: string;
  resource: 'credits' | 'organizations' | 'memberships';
  partition: number;
  status: ColumnType<RunResourceStatus, RunResourceStatus | undefined, RunResourceStatus>;
  total: ColumnType<number | null, number | null | undefined, number | null>;
  published: ColumnType<number, number | undefined, number>;
  updated_at: Timestamp;
}

export type BackfillRun = Selectable<BackfillRunsTable>;
export type BackfillRunResource = Selectable<BackfillRunResourcesTable>;

export interface OutboxTable {
  id: Generated<number>;
  tenant_id: string;
  /** The resource registry's aggregate of the row (contracts, resources.ts). */
  aggregate: string;
  aggregate_id: string;
  event_type: string;
  version: number;
  /**
   * The event as rendered in Postgres by the capture triggers (migration `capture`), keys in
   * rendering order; the relay names the application per delivery. NULL when the row version
   * cannot be rendered (the relay sets the row aside).
   */
  event: ColumnType<string | null, string | null | undefined, string | null>;
  /** The event of a row written before capture existed (null on every later row). */
  payload: ColumnType<unknown, string | null | undefined, string | null>;
  created_at: Timestamp;
  published_at: ColumnType<Date | null, Date | null | undefined, Date | null>;
  /** Set (and the row never published) when its payload is not a valid event. */
  failed_reason: ColumnType<string | null, string | null | undefined, string | null>;
}
export type OutboxRow = Selectable<OutboxTable>;

export interface ApiKeysTable {
  id: Generated<string>;
  name: string;
  /** SHA-256 of the key; the key itself is shown once, at creation, and never stored. */
  key_digest: Buffer;
  /** The key's first characters, so people can tell their keys apart. */
  key_prefix: string;
  /** null: a platform-admin key; otherwise the one tenant the key may act on. */
  tenant_id: string | null;
  created_at: Timestamp;
  revoked_at: ColumnType<Date | null, Date | null | undefined, Date | null>;
}
export type ApiKey = Selectable<ApiKeysTable>;

export type VerificationStatus = 'running' | 'completed' | 'failed';

/** A verification of an application's copy of one tenant against the source (docs/VERIFY.md). */
export interface VerificationsTable {
  id: Generated<string>;
  tenant_id: string;
  application_id: string;
  app_code: string;
  status: ColumnType<VerificationStatus, VerificationStatus | undefined, VerificationStatus>;
  resources: string[];
  started_at: ColumnType<Date, Date | undefined, Date>;
  finished_at: Date | null;
  /** The report (packages/backfill verify): rows checked and differences, per resource. */
  report: unknown;
  error: string | null;
  /** Whether the verification was asked to repair what it found. */
  repair: ColumnType<boolean, boolean | undefined, boolean>;
  /** The run that publishes the rows found differing (trigger `verify`), if one was started. */
  repair_run_id: ColumnType<string | null, string | null | undefined, string | null>;
}
export type Verification = Selectable<VerificationsTable>;
