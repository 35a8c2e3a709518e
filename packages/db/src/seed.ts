/**
 * Scale data for demos, tests and benchmarks. Rows are generated inside Postgres with
 * generate_series (no per-row round trips), in chunks so progress can be reported. Ids and values
 * derive from the seed and the tenant name only, so a given seed always yields the same data.
 */
import { sql } from 'kysely';
import type { Db } from './client';

export interface SeedOptions {
  tenantName: string;
  organizations: number;
  memberships: number;
  creditAllocations: number;
  /** Application code the credit allocations target. */
  app: string;
  seed: number;
  /** Rows per INSERT statement. */
  chunkSize?: number;
  onProgress?: (progress: SeedProgress) => void;
}

export interface SeedProgress {
  table: 'entities' | 'organization_memberships' | 'credit_allocations';
  done: number;
  total: number;
}

export interface SeedResult {
  tenantId: string;
  tenantName: string;
  app: string;
  organizations: number;
  memberships: number;
  creditAllocations: number;
}

export class SeedError extends Error {}

/** Rows are dated evenly over this year, so date filters select predictable shares. */
const FIRST_DAY = '2024-01-01T00:00:00Z';

/**
 * Seeds in one transaction, so a failed or interrupted seed leaves nothing behind. As a superuser
 * it skips the per-row foreign-key triggers (the generated references are valid by construction),
 * which roughly halves the time of a large seed.
 */
export async function seedTenant(db: Db, options: SeedOptions): Promise<SeedResult> {
  const result = await db.transaction().execute(async (trx) => {
    const { rows } = await sql<{ super: boolean }>`
      SELECT rolsuper AS super FROM pg_roles WHERE rolname = current_user
    `.execute(trx);
    // Seeded rows reach applications through a backfill, not as live events: a superuser's
    // explicit opt-out of capture (the capture triggers fire always, replica mode included).
    if (rows[0]?.super) {
      await sql`SET LOCAL session_replication_role = replica`.execute(trx);
      await sql`SET LOCAL historical_sync.capture = 'off'`.execute(trx);
    }
    return seedInTransaction(trx, options);
  });
  // Fresh statistics, so the first reads of a large seed get index plans instead of waiting for
  // autovacuum (a backfill right after a 1M-row seed otherwise scans and sorts each page).
  if (options.organizations + options.memberships + options.creditAllocations >= 10_000) {
    await sql`ANALYZE entities, organization_memberships, credit_allocations`.execute(db);
  }
  return result;
}

async function seedInTransaction(db: Db, options: SeedOptions): Promise<SeedResult> {
  const chunkSize = options.chunkSize ?? 50_000;
  const { organizations, memberships, creditAllocations, app } = options;
  if (organizations === 0 && memberships + creditAllocations > 0) {
    throw new SeedError('memberships and credit allocations need at least one organization');
  }
  const application = await db
    .selectFrom('applications')
    .select('code')
    .where('code', '=', app)
    .executeTakeFirst();
  if (!application) {
    const known = await db.selectFrom('applications').select('code').orderBy('code').execute();
    throw new SeedError(
      `unknown application "${app}"; known: ${known.map((a) => a.code).join(', ')}`,
    );
  }
  const existing = await db
    .selectFrom('tenants')
    .select('id')
    .where('name', '=', options.tenantName)
    .executeTakeFirst();
  if (existing) {
    throw new SeedError(`tenant "${options.tenantName}" already exists (id ${existing.id})`);
  }

  // Every generated id is md5(prefix:kind:n) read as a uuid: deterministic and collision-free.
  const prefix = `${options.seed}:${options.tenantName}`;
  const { id: tenantId } = await db
    .insertInto('tenants')
    .values({ id: sql<string>`md5(${`${prefix}:tenant`})::uuid`, name: options.tenantName })
    .returning('id')
    .executeTakeFirstOrThrow();

  const chunks = async (
    table: SeedProgress['table'],
    total: number,
    insert: (from: number, to: number) => Promise<unknown>,
  ) => {
    for (let from = 0; from < total; from += chunkSize) {
      const to = Math.min(from + chunkSize, total) - 1;
      await insert(from, to);
      options.onProgress?.({ table, done: to + 1, total });
    }
  };
  // The timestamp of row n of `total`, spread evenly over 365 days.
  const dated = (total: number) =>
    sql`${FIRST_DAY}::timestamptz + (n::float8 / ${Math.max(total, 1)}) * interval '365 days'`;
  const orgId = (n: ReturnType<typeof sql>) => sql`md5(${prefix} || ':org:' || ${n})::uuid`;

  await chunks('entities', organizations, (from, to) =>
    sql`
      INSERT INTO entities
        (id, tenant_id, entity_type, code, name, description, industry, website, created_at, updated_at)
      SELECT ${orgId(sql`n`)}, ${tenantId}, 'organization', 'org-' || n, 'Organization ' || n,
        'Seeded organization number ' || n,
        (ARRAY['software', 'retail', 'health', 'finance', 'education'])[1 + n % 5],
        'https://org-' || n || '.example.com',
        ${dated(organizations)}, ${dated(organizations)}
      FROM generate_series(${from}::int, ${to}::int) AS n
    `.execute(db),
  );

  await chunks('organization_memberships', memberships, (from, to) =>
    sql`
      INSERT INTO organization_memberships
        (id, tenant_id, user_id, organization_id, role, created_at, updated_at)
      SELECT md5(${prefix} || ':membership:' || n)::uuid, ${tenantId},
        md5(${prefix} || ':user:' || n)::uuid, ${orgId(sql`n % ${organizations}`)},
        (ARRAY['member', 'admin', 'viewer', 'owner'])[1 + n % 4],
        ${dated(memberships)}, ${dated(memberships)}
      FROM generate_series(${from}::int, ${to}::int) AS n
    `.execute(db),
  );

  await chunks('credit_allocations', creditAllocations, (from, to) =>
    sql`
      INSERT INTO credit_allocations
        (id, tenant_id, entity_id, target_application, allocated_amount, available_credits,
         expires_at, allocated_at, created_at, updated_at)
      SELECT md5(${prefix} || ':credit:' || n)::uuid, ${tenantId},
        ${orgId(sql`n % ${organizations}`)}, ${app},
        1000 + (n * 37) % 9000, 1000 + (n * 37) % 9000 - n % 500,
        ${dated(creditAllocations)} + interval '365 days',
        ${dated(creditAllocations)}, ${dated(creditAllocations)}, ${dated(creditAllocations)}
      FROM generate_series(${from}::int, ${to}::int) AS n
    `.execute(db),
  );

  return {
    tenantId,
    tenantName: options.tenantName,
    app,
    organizations,
    memberships,
    creditAllocations,
  };
}
