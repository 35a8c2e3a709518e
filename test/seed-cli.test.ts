import { createTestDatabase, type TestDatabase } from '@historical-sync/db/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runScript } from './helpers';

describe('npm run seed', () => {
  let test: TestDatabase;
  beforeAll(async () => {
    test = await createTestDatabase('seed_cli', { migrate: false });
  });
  afterAll(async () => {
    await test.destroy();
  });

  it('migrates, seeds exactly the counts asked for, and prints the tenant id as the last line', async () => {
    const env = { ...process.env, DATABASE_URL: test.url };
    const args = ['--orgs', '4', '--memberships', '9', '--credits', '3', '--app', 'crm'];
    const seed = runScript('seed', [...args, '--tenant', 'cli', '--seed', '7'], env);
    expect((await seed.exit()).code).toBe(0);
    const lastLine = seed.output().trim().split('\n').at(-1) as string;
    const result = JSON.parse(lastLine);
    expect(result).toMatchObject({
      tenantName: 'cli',
      organizations: 4,
      memberships: 9,
      creditAllocations: 3,
    });

    const memberships = await test.db
      .selectFrom('organization_memberships')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('tenant_id', '=', result.tenantId)
      .executeTakeFirstOrThrow();
    expect(memberships.n).toBe(9);
  });

  it('exits non-zero with a message naming a bad flag', async () => {
    const env = { ...process.env, DATABASE_URL: test.url };
    const seed = runScript('seed', ['--orgs', 'many'], env);
    expect((await seed.exit()).code).toBe(1);
    expect(seed.output()).toMatch(/--orgs: /);
  });
});
