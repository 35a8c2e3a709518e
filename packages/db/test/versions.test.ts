import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../src/testing';

describe('row versions', () => {
  let test: TestDatabase;
  beforeAll(async () => {
    test = await createTestDatabase('versions');
  });
  afterAll(async () => {
    await test.destroy();
  });

  it('start at 1 and increase by one on every update, with updated_at moved', async () => {
    const { db } = test;
    const tenant = await db
      .insertInto('tenants')
      .values({ name: 'acme' })
      .returningAll()
      .executeTakeFirstOrThrow();
    const org = await db
      .insertInto('entities')
      .values({
        tenant_id: tenant.id,
        entity_type: 'organization',
        code: 'org-1',
        name: 'Org 1',
        description: null,
        industry: null,
        website: null,
        parent_id: null,
        created_at: '2024-01-01T00:00:00Z',
        updated_at: '2024-01-01T00:00:00Z',
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    expect(org.version).toBe(1);

    const renamed = await db
      .updateTable('entities')
      .set({ name: 'Org One' })
      .where('id', '=', org.id)
      .returningAll()
      .executeTakeFirstOrThrow();
    expect(renamed.version).toBe(2);
    expect(renamed.updated_at.getTime()).toBeGreaterThan(org.updated_at.getTime());

    const deactivated = await db
      .updateTable('entities')
      .set({ is_active: false })
      .where('id', '=', org.id)
      .returningAll()
      .executeTakeFirstOrThrow();
    expect(deactivated.version).toBe(3);
  });

  it('are kept by the database even when a caller tries to set them', async () => {
    const { db } = test;
    const tenant = await db
      .insertInto('tenants')
      .values({ name: 'globex' })
      .returningAll()
      .executeTakeFirstOrThrow();
    // The type forbids writing `version`; raw SQL shows the trigger wins regardless.
    const { sql } = await import('kysely');
    const { rows } = await sql<{ version: number }>`
      UPDATE tenants SET version = 100, name = 'globex 2' WHERE id = ${tenant.id} RETURNING version
    `.execute(db);
    expect(rows[0]?.version).toBe(2);
  });
});
