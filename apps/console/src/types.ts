/**
 * The console API's response shapes (the contract in packages/contracts' `api/console`), as the
 * page reads them. Only types: the page bundles no schema library.
 */
export const RUN_STATUSES = [
  'queued',
  'running',
  'paused',
  'completed',
  'failed',
  'cancelled',
] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];
export const FINAL_STATUSES: readonly string[] = ['completed', 'failed', 'cancelled'];

export type RunAction = 'pause' | 'resume' | 'cancel' | 'retry';

export interface RunSummary {
  runId: string;
  tenantId: string;
  tenantName: string;
  appCode: string;
  status: RunStatus;
  trigger: string;
  dryRun?: boolean;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  published: number;
  total: number | null;
  percent: number | null;
  lastError: string | null;
}

export interface ApplicationState {
  id: string;
  code: string;
  name: string;
  isEnabled: boolean;
  enabledAt: string | null;
  syncNeeded: boolean;
  latestRun: RunSummary | null;
}

export interface TenantSummary {
  tenantId: string;
  name: string;
  applications: ApplicationState[];
}

export interface ResourceProgress {
  status: string;
  published: number;
  total: number | null;
  percent: number | null;
  lastError: string | null;
}

export interface RunView {
  runId: string;
  tenantId: string;
  appCode: string;
  status: RunStatus;
  trigger: string;
  sinceDate: string | null;
  pageSize: number;
  maxEventsPerSecond: number | null;
  partitions: number;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  lastError: string | null;
  published: number;
  total: number | null;
  percent: number | null;
  eventsPerSecond?: number | null;
  etaSeconds?: number | null;
  allowedActions?: RunAction[];
  resources: Partial<Record<string, ResourceProgress>>;
}

export interface DryRunCounts {
  dryRun: true;
  appCode: string;
  sinceDate: string | null;
  counts: Record<string, number>;
  total: number;
}

export interface SystemView {
  eventsPerSecond: { at: string; events: number }[];
  outbox: { backlog: number; oldestAgeSeconds: number | null };
  consumerGroups: { stream: string; group: string; lag: number | null; pending: number }[];
  workers: { id: string; roles: string[]; startedAt: string; lastSeenAt: string }[];
}
