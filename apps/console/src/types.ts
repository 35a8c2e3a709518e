/**
 * The console API's shapes, from its contract (packages/contracts, `api/console`). Types only:
 * importing the contract's values would bundle its schemas (zod) into the page. The run
 * vocabulary's lists, needed at run time, come from `@historical-sync/contracts/run-vocabulary`,
 * a module without zod.
 */
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
