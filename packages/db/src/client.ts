import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { Database } from './schema';

export interface DbOptions {
  connectionString: string;
  /** Pool size; keep it small per process, Postgres connections are not free. */
  maxConnections?: number;
  applicationName?: string;
  /**
   * Postgres ends a session idle inside a transaction for longer than this, releasing its locks:
   * a process frozen mid-transaction (a stalled VM, SIGSTOP, a long GC pause) then cannot hold up
   * the workers that took over its jobs. Transactions here are short: the longest waits on the
   * relay batch's Redis scripts (one per stream, under the batch's lease); ended, that batch rolls back
   * and is published again later (at least once, as always for live events).
   */
  idleInTransactionTimeoutMs?: number;
  /** Told about connections lost outside a query (restart, network); default: ignored. */
  onConnectionError?: (error: Error) => void;
}

// int8 (bigint, count(*)) as a JS number: every value here (versions, counts, credits) stays far
// below 2^53, and numbers keep events and comparisons simple.
const INT8_OID = 20;
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID
      ? (value: string) => Number(value)
      : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

export function createPool(options: DbOptions): pg.Pool {
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    max: options.maxConnections ?? 10,
    application_name: options.applicationName ?? 'historical-sync',
    idle_in_transaction_session_timeout: options.idleInTransactionTimeoutMs ?? 15_000,
    types,
  });
  // A connection that breaks (Postgres restarted, a session ended by the server) emits 'error' on
  // the pool when idle and on its client when checked out; unhandled, either ends the process.
  // The pool discards the broken client, and the next query on it fails where it is awaited.
  const onError = options.onConnectionError ?? (() => {});
  pool.on('error', () => {}); // the client's own listener below reports it
  pool.on('connect', (client) => client.on('error', onError));
  return pool;
}

const pools = new WeakMap<Kysely<Database>, pg.Pool>();

export function createDb(options: DbOptions): Kysely<Database> {
  const pool = createPool(options);
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  pools.set(db, pool);
  return db;
}

/**
 * The pg pool under a Db made by createDb, for what Kysely cannot do: a `COPY … TO STDOUT`,
 * whose rows arrive as the server's bytes (the backfill's pages, packages/backfill page-bytes.ts).
 */
export function poolOf(db: Kysely<Database>): pg.Pool {
  const pool = pools.get(db);
  if (!pool) throw new Error('this Db was not made by createDb: it has no pool to copy with');
  return pool;
}

export type Db = Kysely<Database>;
