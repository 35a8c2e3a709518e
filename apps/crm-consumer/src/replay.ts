/**
 * Replays the CRM's dead-letter stream after a fix: each entry is applied as the consumer would
 * (deduped by eventId, version-gated, so running it twice or beside the consumer is harmless) and
 * removed from the stream once applied; then every run that waited on dead letters is looked at
 * again and completed when none of its entries is left.
 */
import { deadLetteredInRun, type ReplayResult, replayDeadLetters } from '@historical-sync/consumer';
import type { Cluster, Redis } from 'ioredis';
import { completeRunIfReady, type RunState } from './handlers/sync-marker';
import { applyEvent } from './projection';
import type { CrmDb } from './schema';

export interface CrmReplayResult extends ReplayResult {
  /** Runs looked at again: completed now, or still incomplete with their dead letters. */
  runStates: RunState[];
}

export async function replayCrmDeadLetters(options: {
  db: CrmDb;
  redis: Redis | Cluster;
  deadLetterStream: string;
  appCode: string;
}): Promise<CrmReplayResult> {
  const { db, redis, deadLetterStream, appCode } = options;
  const result = await replayDeadLetters({
    redis,
    deadLetterStream,
    // A replayed marker counts at least itself; its run is looked at again below, once the
    // replayed entries are out of the stream.
    handler: async (event) => {
      await applyEvent(db, event, appCode, 1);
    },
  });
  // Every run whose markers have all arrived but that is not complete: the ones just replayed,
  // and any left waiting by an earlier replay that raced with its last marker.
  const waiting = await db
    .selectFrom('crm_sync_runs')
    .select('run_id')
    .where('completed_at', 'is', null)
    .where(({ eb, ref }) => eb(ref('resources'), '<@', ref('completed_resources')))
    .execute();
  const runStates: RunState[] = [];
  for (const { run_id } of waiting) {
    const deadLettered = await deadLetteredInRun(redis, deadLetterStream, run_id);
    runStates.push(await completeRunIfReady(db, run_id, deadLettered));
  }
  return { ...result, runStates };
}
