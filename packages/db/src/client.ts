import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { Database } from './schema';

export interface DbOptions {
  connectionString: string;
  /** Pool size; keep it small per process, Postgres connections are not free. */
  maxConnections?: number;
  applicationName?: string;
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
  return new pg.Pool({
    connectionString: options.connectionString,
    max: options.maxConnections ?? 10,
    application_name: options.applicationName ?? 'historical-sync',
    types,
  });
}

export function createDb(options: DbOptions): Kysely<Database> {
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool: createPool(options) }) });
}

export type Db = Kysely<Database>;
