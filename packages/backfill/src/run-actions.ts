/** What an operator may do with a run in each state: the run view's `allowedActions`. */
import type { RunAction as ConsoleAction, RunStatus } from '@historical-sync/contracts';
import { ALLOWED_FROM } from './controls';

export function allowedActions(status: RunStatus): ConsoleAction[] {
  const actions: ConsoleAction[] = (['pause', 'resume', 'cancel'] as const).filter((action) =>
    ALLOWED_FROM[action].includes(status),
  );
  // A failed run's jobs are tried again from their checkpoints (run-retry.ts).
  if (status === 'failed') actions.push('retry');
  return actions;
}
