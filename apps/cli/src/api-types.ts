/**
 * The admin API's response bodies, as documented in the README. Declared here rather than
 * imported because apps may not import other apps; only the fields the CLI prints are listed.
 */
import type { Resource } from '@historical-sync/contracts';

export type RunStatus = 'queued' | 'running' | 'paused' | 'completed' | 'failed' | 'cancelled';

export interface ResourceProgress {
  status: string;
  published: number;
  total: number | null;
  percent: number | null;
  lastError: string | null;
}

export interface RunView {
  runId: string;
  status: RunStatus;
  trigger: string;
  sinceDate: string | null;
  pageSize: number;
  maxEventsPerSecond: number | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  lastError: string | null;
  published: number;
  total: number | null;
  percent: number | null;
  resources: Partial<Record<Resource, ResourceProgress>>;
}

/** GET /sync-runs/:runId and the pause/resume/cancel answers. */
export interface RunResponse extends RunView {
  tenantId: string;
  appCode: string;
}

export interface ToggleResponse {
  tenantId: string;
  application: { id: string; code: string };
  isEnabled: boolean;
  changed: boolean;
  enabledAt: string | null;
  disabledAt: string | null;
  runId: string | null;
  statusUrl: string | null;
}

export interface DryRunResponse {
  dryRun: true;
  appCode: string;
  sinceDate: string | null;
  counts: Partial<Record<Resource, number>>;
  total: number;
}

export interface SyncStartedResponse {
  runId: string;
  status: RunStatus;
  created: boolean;
  statusUrl: string;
}

export interface SyncStatusResponse {
  tenantId: string;
  appCode: string;
  isEnabled: boolean;
  enabledAt: string | null;
  counts: {
    activeCreditAllocations: number;
    organizations: number;
    /** Every membership, ended ones included (the spec's total). */
    memberships: number;
    activeMemberships: number;
  };
  syncNeeded: boolean;
  latestRun: RunView | null;
  outboxBacklog: { unpublished: number; oldestAgeMs: number | null; failed: number };
}

/** Every error answer: `{ error, message, field? }`. */
export interface ApiErrorBody {
  error: string;
  message: string;
  field?: string;
}

export const FINAL_STATUSES: readonly RunStatus[] = ['completed', 'failed', 'cancelled'];

export interface ApiKeyView {
  id: string;
  name: string;
  prefix: string;
  scope: 'admin' | 'tenant';
  tenantId: string | null;
  createdAt: string;
  revokedAt: string | null;
}
