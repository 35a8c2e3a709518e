/** The CRM's one report of where a run stands: in sync (once), or incomplete with its dead letters. */
import type { Logger } from 'pino';
import type { RunState } from './handlers/sync-marker';

export const REPLAY_COMMAND = 'npm run replay-dead-letters -w @historical-sync/crm-consumer';

export function reportRun(logger: Logger, run: RunState): void {
  const fields = { tenantId: run.tenantId, runId: run.runId, deadLettered: run.deadLettered };
  if (run.newlyCompleted && run.completedAt) {
    logger.info(
      fields,
      `CRM in sync for tenant ${run.tenantId} since ${run.completedAt.toISOString()}`,
    );
  } else if (run.allResourcesDone && !run.completedAt && run.deadLettered > 0) {
    logger.warn(
      fields,
      `CRM sync of run ${run.runId} for tenant ${run.tenantId} incomplete: ${run.deadLettered} entries dead-lettered; after a fix, replay them with \`${REPLAY_COMMAND}\``,
    );
  }
}
