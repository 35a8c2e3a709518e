import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SeedError, seedTenant } from '../src/index';
import { createTestDatabase, type TestDatabase } from '../src/testing';

describe('seedTenant', () => {
  let test: TestDatabase;
  beforeAll(async () => {
    test = await createTestDatabase('seed');
  });
  afterAll(async () => {
    await test.destroy();
  });

  const count = async (table: string, tenantId: string) => {
    const { rows } = await sql<{ n: number }>`
      SELECT count(*)::int AS n FROM ${sql.table(table)} WHERE tenant_id = ${tenantId}
    `.execute(test.db);
    return rows[0]?.n;
  };

  it('creates exactly the counts asked for, in chunks, reporting progress', async () => {
    const progress: string[] = [];
    const result = await seedTenant(test.db, {
      tenantName: 'counts',
      organizations: 7,
      memberships: 23,
      creditAllocations: 5,
      app: 'crm',
      seed: 1,
      chunkSize: 10,
      onProgress: (p) => progress.push(`${p.table}:${p.done}/${p.total}`),
    });
    expect(result.tenantId).toMatch(/^[0-9a-f-]{36}$/);
    expect(await count('entities', result.tenantId)).toBe(7);
    expect(await count('organization_memberships', result.tenantId)).toBe(23);
    expect(await count('credit_allocations', result.tenantId)).toBe(5);
    expect(progress).toEqual([
      'entities:7/7',
      'organization_memberships:10/23',
      'organization_memberships:20/23',
      'organization_memberships:23/23',
      'credit_allocations:5/5',
    ]);
    const apps = await test.db
      .selectFrom('credit_allocations')
      .select('target_application')
      .distinct()
      .where('tenant_id', '=', result.tenantId)
      .execute();
    expect(apps).toEqual([{ target_application: 'crm' }]);
  });

  it('is deterministic for a given seed and tenant name', async () => {
    const snapshot = async (tenantId: string) =>
      test.db
        .selectFrom('organization_memberships')
        .select(['user_id', 'role', 'created_at'])
        .where('tenant_id', '=', tenantId)
        .orderBy('user_id')
        .execute();
    const options = {
      organizations: 3,
      memberships: 12,
      creditAllocations: 2,
      app: 'hr',
      seed: 42,
    };
    const a = await seedTenant(test.db, { ...options, tenantName: 'det' });
    const first = await snapshot(a.tenantId);
    await test.db.deleteFrom('tenants').where('id', '=', a.tenantId).execute();
    const b = await seedTenant(test.db, { ...options, tenantName: 'det' });
    expect(b.tenantId).toBe(a.tenantId);
    expect(await snapshot(b.tenantId)).toEqual(first);

    const other = await seedTenant(test.db, { ...options, seed: 43, tenantName: 'det-43' });
    expect(other.tenantId).not.toBe(a.tenantId);
  });

  it('refuses an unknown application or an existing tenant with a clear message', async () => {
    const base = { organizations: 1, memberships: 1, creditAllocations: 1, seed: 1 };
    await expect(seedTenant(test.db, { ...base, tenantName: 'x', app: 'nope' })).rejects.toThrow(
      new SeedError('unknown application "nope"; known: affiliate, crm, hr'),
    );
    await seedTenant(test.db, { ...base, tenantName: 'twice', app: 'crm' });
    await expect(seedTenant(test.db, { ...base, tenantName: 'twice', app: 'crm' })).rejects.toThrow(
      /tenant "twice" already exists/,
    );
  });
});
