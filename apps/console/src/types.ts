/**
 * The console API's shapes, from its contract (packages/contracts, `api/console`). Types only:
 * importing the contract's values would bundle its schemas (zod) into the page.
 */
import type { RunStatus } from '@historical-sync/contracts';

export type {
  ApplicationState,
  DryRunResponse as DryRunCounts,
  RunAction,
  RunStatus,
  RunSummary,
  RunView,
  SystemResponse as SystemView,
  TenantSummary,
  VerificationView,
} from '@historical-sync/contracts';

/** The contract's RUN_STATUSES; the checks below fail the typecheck if the two differ. */
export const RUN_STATUSES = [
  'queued',
  'running',
  'paused',
  'completed',
  'failed',
  'cancelled',
] as const satisfies readonly RunStatus[];
type Unlisted = Exclude<RunStatus, (typeof RUN_STATUSES)[number]>;
export const EVERY_STATUS_LISTED: [Unlisted] extends [never] ? true : never = true;

export const FINAL_STATUSES: readonly RunStatus[] = ['completed', 'failed', 'cancelled'];
