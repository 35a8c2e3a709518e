import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb, migrateToLatest } from '../src/index';
import { createTestDatabase, type TestDatabase } from '../src/testing';

describe('migrations', () => {
  let test: TestDatabase;
  beforeAll(async () => {
    test = await createTestDatabase('migrations', { migrate: false });
  });
  afterAll(async () => {
    await test.destroy();
  });

  it('apply to an empty database, and a second run is a no-op', async () => {
    const first = await migrateToLatest(test.db);
    expect(first.results?.length).toBeGreaterThan(0);
    expect(first.results?.every((r) => r.status === 'Success')).toBe(true);

    const tables = await sql<{ tablename: string }>`
      SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename
    `.execute(test.db);
    expect(tables.rows.map((r) => r.tablename)).toEqual(
      expect.arrayContaining([
        'applications',
        'credit_allocations',
        'entities',
        'organization_applications',
        'organization_memberships',
        'tenants',
      ]),
    );

    const second = await migrateToLatest(test.db);
    expect(second.results).toEqual([]);
  });

  it('are safe when several processes migrate at once', async () => {
    const fresh = await createTestDatabase('migrations_race', { migrate: false });
    const clients = Array.from({ length: 4 }, () => createDb({ connectionString: fresh.url }));
    try {
      const results = await Promise.all(clients.map((db) => migrateToLatest(db)));
      const applied = results.flatMap((r) => r.results ?? []);
      // Each migration is applied exactly once across all the racing migrators.
      const names = applied.map((r) => r.migrationName);
      expect(new Set(names).size).toBe(names.length);
      expect(applied.every((r) => r.status === 'Success')).toBe(true);
      const { rows } = await sql<{ n: number }>`
        SELECT count(*)::int AS n FROM applications WHERE code = 'crm'
      `.execute(fresh.db);
      expect(rows[0]?.n).toBe(1);
    } finally {
      await Promise.all(clients.map((db) => db.destroy()));
      await fresh.destroy();
    }
  });
});
