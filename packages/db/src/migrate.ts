import { type Kysely, type Migration, type MigrationResultSet, Migrator, sql } from 'kysely';
import { migrations as wrapperMigrations } from '../migrations/index';

// Arbitrary constant naming this project's migration lock among other advisory locks.
const MIGRATION_LOCK_KEY = 7_303_114_911;

/**
 * Applies every pending migration. Safe to run twice (applied ones are skipped) and from several
 * processes at once: the whole run, including the creation of Kysely's bookkeeping tables (which
 * Kysely does before taking its own lock), happens under one session-level advisory lock.
 */
// biome-ignore lint/suspicious/noExplicitAny: migrations run on any Kysely, whatever its table types
export async function migrateToLatest(db: Kysely<any>): Promise<MigrationResultSet> {
  return runMigrations(db, wrapperMigrations);
}

/** The same, for another database's own migrations (an application's projection, say). */
export async function runMigrations(
  // biome-ignore lint/suspicious/noExplicitAny: migrations run on any Kysely, whatever its table types
  db: Kysely<any>,
  migrations: Record<string, Migration>,
): Promise<MigrationResultSet> {
  return db.connection().execute(async (connection) => {
    await sql`SELECT pg_advisory_lock(${MIGRATION_LOCK_KEY})`.execute(connection);
    try {
      const migrator = new Migrator({
        db: connection,
        provider: { getMigrations: async () => migrations },
      });
      const result = await migrator.migrateToLatest();
      if (result.error) throw result.error;
      return result;
    } finally {
      await sql`SELECT pg_advisory_unlock(${MIGRATION_LOCK_KEY})`.execute(connection);
    }
  });
}
