import type { SyncMarker } from '@historical-sync/contracts';
import { sql } from 'kysely';
import type { CrmDb } from '../schema';

/**
 * Records a run's markers. The run is complete ("in sync since") once a sync.completed marker
 * has arrived on the stream of every resource the run synced.
 */
export async function applySyncMarker(
  db: CrmDb,
  marker: SyncMarker,
): Promise<{ completedAt: Date | null }> {
  await db
    .insertInto('crm_sync_runs')
    .values({ run_id: marker.runId, tenant_id: marker.tenantId, resources: marker.resources })
    .onConflict((oc) => oc.column('run_id').doNothing())
    .execute();
  if (marker.eventType === 'sync.started') return { completedAt: null };
  const row = await db
    .updateTable('crm_sync_runs')
    .set({
      completed_resources: sql`ARRAY(SELECT DISTINCT unnest(completed_resources || ${[marker.resource]}::text[]) ORDER BY 1)`,
      counts: JSON.stringify(marker.counts),
    })
    .where('run_id', '=', marker.runId)
    .returning(['resources', 'completed_resources', 'completed_at'])
    .executeTakeFirstOrThrow();
  if (row.completed_at || !row.resources.every((r) => row.completed_resources.includes(r))) {
    return { completedAt: row.completed_at };
  }
  const done = await db
    .updateTable('crm_sync_runs')
    .set({ completed_at: sql`now()` })
    .where('run_id', '=', marker.runId)
    .returning('completed_at')
    .executeTakeFirstOrThrow();
  return { completedAt: done.completed_at };
}
