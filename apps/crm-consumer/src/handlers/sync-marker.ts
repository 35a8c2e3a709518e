import type { SyncMarker } from '@historical-sync/contracts';
import { sql } from 'kysely';
import type { CrmDb } from '../schema';

/** Where a run stands in the CRM after a marker or a replay. */
export interface RunState {
  runId: string;
  tenantId: string;
  /** Every resource of the run has its sync.completed marker. */
  allResourcesDone: boolean;
  /** Its entries in the dead-letter stream, as last counted. */
  deadLettered: number;
  /** Set once the run is complete: every resource done and nothing dead-lettered. */
  completedAt: Date | null;
  /** True for the one call that completed it (so "in sync" is reported once). */
  newlyCompleted: boolean;
}

/**
 * Records a run's markers. The run is complete ("in sync since") once a sync.completed marker
 * has arrived on the stream of every resource the run synced and none of its entries is in the
 * dead-letter stream; with dead letters it stays incomplete until a replay handles them.
 */
export async function applySyncMarker(
  db: CrmDb,
  marker: SyncMarker,
  deadLettered: number,
): Promise<RunState> {
  await db
    .insertInto('crm_sync_runs')
    .values({ run_id: marker.runId, tenant_id: marker.tenantId, resources: marker.resources })
    .onConflict((oc) => oc.column('run_id').doNothing())
    .execute();
  if (marker.eventType === 'sync.completed') {
    await db
      .updateTable('crm_sync_runs')
      .set({
        completed_resources: sql`ARRAY(SELECT DISTINCT unnest(completed_resources || ${[marker.resource]}::text[]) ORDER BY 1)`,
        counts: JSON.stringify(marker.counts),
      })
      .where('run_id', '=', marker.runId)
      .execute();
  }
  return completeRunIfReady(db, marker.runId, deadLettered);
}

/**
 * Records the run's dead-letter count and completes the run when every resource is done and the
 * count is zero; a run completed earlier stays completed (its time does not move).
 */
export async function completeRunIfReady(
  db: CrmDb,
  runId: string,
  deadLettered: number,
): Promise<RunState> {
  const row = await db
    .updateTable('crm_sync_runs')
    .set({ dead_lettered: deadLettered })
    .where('run_id', '=', runId)
    .returning(['tenant_id', 'resources', 'completed_resources', 'completed_at'])
    .executeTakeFirstOrThrow();
  const allResourcesDone = row.resources.every((r) => row.completed_resources.includes(r));
  const state = {
    runId,
    tenantId: row.tenant_id,
    allResourcesDone,
    deadLettered,
    completedAt: row.completed_at,
    newlyCompleted: false,
  };
  if (row.completed_at || !allResourcesDone || deadLettered > 0) return state;
  const done = await db
    .updateTable('crm_sync_runs')
    .set({ completed_at: sql`now()` })
    .where('run_id', '=', runId)
    .where('completed_at', 'is', null)
    .returning('completed_at')
    .executeTakeFirst();
  if (!done) return completeRunIfReady(db, runId, deadLettered); // completed by a concurrent call
  return { ...state, completedAt: done.completed_at, newlyCompleted: true };
}
