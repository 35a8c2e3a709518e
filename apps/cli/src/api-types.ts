/**
 * The admin API's response bodies. The run view and the console's bodies are the contracts'
 * schemas (z.infer); the older routes' bodies are declared here, since apps may not import other
 * apps, with only the fields the CLI prints.
 */
import type {
  Resource,
  ResourceProgress,
  RunStatus,
  RunViewBody,
} from '@historical-sync/contracts';

export type { ResourceProgress, RunStatus };

/** A run's view (GET /sync-runs/:runId, the controls' answers, sync-status's latest run). */
export type RunView = RunViewBody;

/** GET /sync-runs/:runId and the pause/resume/cancel/retry answers. */
export type RunResponse = RunViewBody;

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
