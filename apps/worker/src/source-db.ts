/**
 * BACKFILL_DATABASE_URL: the streaming replica backfill pages are read from
 * (docs/decisions/0015-replica-reads.md). Checked at start: reachable, and a physical replica of
 * DATABASE_URL, since the wait for the replica to replay a run's start compares positions in the
 * primary's WAL, which mean nothing on any other server (another cluster, a logical replica).
 */
import type { Db } from '@historical-sync/db';
import { serverAddress } from '@historical-sync/runtime';
import { sql } from 'kysely';

/**
 * The server's system identifier, set when its cluster was created: a physical replica is a copy
 * of its primary's cluster and has the same one; any other server has its own.
 */
async function systemIdentifier(db: Db): Promise<string> {
  const { rows } = await sql<{ id: string }>`
    SELECT system_identifier::text AS id FROM pg_control_system()
  `.execute(db);
  return rows[0]?.id ?? '';
}

/** Why `source` cannot serve the pages of `primary`'s runs; null when it can. */
export async function replicaMismatch(
  primary: { db: Db; url: string },
  source: { db: Db; url: string },
): Promise<string | null> {
  const [primaryId, sourceId] = await Promise.all([
    systemIdentifier(primary.db),
    systemIdentifier(source.db),
  ]);
  if (primaryId === sourceId) return null;
  return (
    `BACKFILL_DATABASE_URL (${serverAddress(source.url)}) is not a streaming replica of ` +
    `DATABASE_URL (${serverAddress(primary.url)}): their system identifiers differ ` +
    `(${sourceId} and ${primaryId})`
  );
}
