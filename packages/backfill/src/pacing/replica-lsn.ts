/**
 * Where a streaming replica stands against its primary, read from both: what the page reads from a
 * replica wait for (docs/decisions/0015-replica-reads.md). Positions are WAL locations (LSNs),
 * compared as byte offsets.
 */
import type { Db } from '@historical-sync/db';
import { sql } from 'kysely';

/**
 * The primary's WAL insert position: past the commit record of every transaction a query on the
 * primary can see by now. The insert position, not the written one: with asynchronous commit a
 * visible commit may not have been written out yet, and a replica that reached the written
 * position could still lack it.
 */
export async function primaryWalPosition(db: Db): Promise<string> {
  const { rows } = await sql<{
    lsn: string;
  }>`SELECT pg_current_wal_insert_lsn()::text AS lsn`.execute(db);
  const lsn = rows[0]?.lsn;
  if (!lsn) throw new Error('the primary reported no WAL position');
  return lsn;
}

/**
 * How many bytes of WAL the source still has to replay to reach `target`; 0 once it has. A source
 * not in recovery is a primary (the primary itself, or a replica promoted since): nothing to wait
 * for.
 */
export async function bytesToReplay(source: Db, target: string): Promise<number> {
  const { rows } = await sql<{ in_recovery: boolean; replayed: string | null }>`
    SELECT pg_is_in_recovery() AS in_recovery, pg_last_wal_replay_lsn()::text AS replayed
  `.execute(source);
  const row = rows[0];
  if (!row?.in_recovery) return 0;
  // No location replayed yet: a standby still starting; everything is ahead of it.
  if (!row.replayed) return Number.POSITIVE_INFINITY;
  return Math.max(0, lsnBytes(target) - lsnBytes(row.replayed));
}

export interface ReplicaLag {
  /**
   * How far the replica's data is behind the primary's: the time since the replica replayed its
   * latest transaction, while WAL is still to be replayed; 0 when there is none (an idle primary
   * is not a lagging replica).
   */
  lagMs: number;
  /** WAL written on the primary that the replica has not replayed yet. */
  bytesBehind: number;
}

/**
 * One look at the replica's lag: the primary's write position and the replica's replay position
 * and its latest replayed transaction's commit time, both read at once. The commit time is the
 * primary's clock and `now()` the replica's, so a clock skew between the two adds to the lag.
 */
export async function measureReplicaLag(primary: Db, source: Db): Promise<ReplicaLag> {
  const [written, replica] = await Promise.all([
    sql<{ lsn: string }>`SELECT pg_current_wal_lsn()::text AS lsn`.execute(primary),
    sql<{ in_recovery: boolean; replayed: string | null; since_ms: number | null }>`
      SELECT pg_is_in_recovery() AS in_recovery, pg_last_wal_replay_lsn()::text AS replayed,
        (extract(epoch FROM now() - pg_last_xact_replay_timestamp()) * 1000)::float8 AS since_ms
    `.execute(source),
  ]);
  const row = replica.rows[0];
  const lsn = written.rows[0]?.lsn;
  if (!row?.in_recovery || !row.replayed || !lsn) return { lagMs: 0, bytesBehind: 0 };
  const bytesBehind = Math.max(0, lsnBytes(lsn) - lsnBytes(row.replayed));
  // Nothing replayed since the standby started: its age is unknown, only that it is behind.
  const lagMs = bytesBehind === 0 ? 0 : Math.max(0, row.since_ms ?? Number.POSITIVE_INFINITY);
  return { lagMs, bytesBehind };
}

/** An LSN (`16/B374D848`: high and low 32 bits in hex) as a byte offset. */
function lsnBytes(lsn: string): number {
  const [high, low] = lsn.split('/');
  if (high === undefined || low === undefined) throw new Error(`not an LSN: ${lsn}`);
  return Number.parseInt(high, 16) * 2 ** 32 + Number.parseInt(low, 16);
}

/** `1.2 MB`, `340 kB`, `12 B`: a WAL distance for a person. */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes)) return 'all';
  if (bytes >= 1024 * 1024) return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
  if (bytes >= 1024) return `${Math.round(bytes / 1024)} kB`;
  return `${bytes} B`;
}
