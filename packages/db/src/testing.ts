/**
 * Test helper: a fresh database per test file on the server named by DATABASE_URL, migrated,
 * and dropped afterwards, so test files never see each other's rows.
 */
import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { createDb, type Db } from './client';
import { migrateToLatest } from './migrate';

export interface TestDatabase {
  db: Db;
  /** Connection string of the new database, for child processes. */
  url: string;
  name: string;
  destroy(): Promise<void>;
}

export function databaseUrlFromEnv(): string {
  const url = process.env.DATABASE_URL;
  if (!url) throw new Error('DATABASE_URL is not set: run tests with `npm test` from the root.');
  return url;
}

export async function createTestDatabase(
  label = 'test',
  /** `serverUrl`: a server other than DATABASE_URL's (e.g. one a fault test restarts). */
  options: { migrate?: boolean; serverUrl?: string } = {},
): Promise<TestDatabase> {
  const serverUrl = options.serverUrl ?? databaseUrlFromEnv();
  const name = `t_${label.replace(/[^a-z0-9]/gi, '_').toLowerCase()}_${randomBytes(4).toString('hex')}`;
  const admin = createDb({ connectionString: serverUrl, maxConnections: 1 });
  await sql`CREATE DATABASE ${sql.id(name)}`.execute(admin);

  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  const db = createDb({ connectionString: url.toString(), maxConnections: 5 });
  if (options.migrate ?? true) await migrateToLatest(db);

  return {
    db,
    url: url.toString(),
    name,
    destroy: async () => {
      await db.destroy();
      // A pool's end() can resolve before the server has seen its clients leave; a forced drop
      // would then kill them and they would report it as an error. Wait for them first.
      for (let i = 0; i < 50; i++) {
        const { rows } = await sql<{ n: number }>`
          SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = ${name}
        `.execute(admin);
        if (rows[0]?.n === 0) break;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      await sql`DROP DATABASE IF EXISTS ${sql.id(name)} WITH (FORCE)`.execute(admin);
      await admin.destroy();
    },
  };
}
