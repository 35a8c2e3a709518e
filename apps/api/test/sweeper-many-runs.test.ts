/**
 * The sweeper visits every active run, not only the oldest page of them: behind more than a
 * page of parked or long runs (each with its job), a newer run whose enqueue was lost still gets
 * its flow, and so does a lost run at the page boundary among runs created in the same
 * microsecond.
 */
import { sweepRuns } from '@historical-sync/backfill';
import {
  type BackfillTestContext,
  createBackfillTestContext,
} from '@historical-sync/backfill/testing';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/** More than one page of the sweeper's query (1,000 rows). */
const OLD_RUNS = 2_100;

describe('sweeper: more active runs than one page', () => {
  let t: BackfillTestContext;
  beforeAll(async () => {
    t = await createBackfillTestContext('sweeper-many-runs');
  });
  afterAll(async () => {
    await t.close();
  });

  it('re-enqueues a lost newer run behind 2,100 older active runs, and lost runs at a page boundary', async () => {
    // One active run per tenant and application (the partial unique index), so one tenant each.
    // Three created_at values a microsecond apart: page boundaries fall inside runs of equal time.
    await sql`
      WITH tenants AS (
        INSERT INTO tenants (name)
        SELECT 'parked-' || g FROM generate_series(1, ${OLD_RUNS}) g
        RETURNING id, name
      )
      INSERT INTO backfill_runs
        (tenant_id, application_id, app_code, status, trigger, page_size, created_at)
      SELECT t.id, a.id, 'crm',
        (ARRAY['queued', 'running', 'paused'])[1 + split_part(t.name, '-', 2)::int % 3],
        'manual', 100,
        timestamptz '2020-01-01 00:00:00.000001Z'
          + (split_part(t.name, '-', 2)::int % 3) * interval '1 microsecond'
      FROM tenants t CROSS JOIN applications a WHERE a.code = 'crm'
    `.execute(t.db);
    const lostNew = await sql<{ id: string }>`
      WITH tenant AS (INSERT INTO tenants (name) VALUES ('lost-new') RETURNING id)
      INSERT INTO backfill_runs (tenant_id, application_id, app_code, trigger, page_size, created_at)
      SELECT tenant.id, a.id, 'crm', 'manual', 100, now() - interval '1 minute'
      FROM tenant CROSS JOIN applications a WHERE a.code = 'crm'
      RETURNING id
    `.execute(t.db);
    await sql`
      INSERT INTO backfill_run_resources (run_id, resource)
      SELECT id, 'memberships' FROM backfill_runs
    `.execute(t.db);

    // The sweeper's order; the runs at the first page boundary lose their job, like the new one.
    const ordered = await sql<{ id: string }>`
      SELECT id FROM backfill_runs ORDER BY created_at, id
    `.execute(t.db);
    expect(ordered.rows).toHaveLength(OLD_RUNS + 1);
    const lost = new Set([
      ...[999, 1_000, 1_001].map((i) => ordered.rows[i]?.id as string),
      lostNew.rows[0]?.id as string,
    ]);
    // Every other run has its job, parked (delayed) as a paused run's is.
    const parked = ordered.rows.filter((r) => !lost.has(r.id));
    for (let i = 0; i < parked.length; i += 500) {
      await t.queues.runs.addBulk(
        parked.slice(i, i + 500).map(({ id }) => ({
          name: 'run',
          data: { runId: id, tenantId: id, appCode: 'crm' },
          opts: { jobId: id, delay: 3_600_000 },
        })),
      );
    }

    expect(await sweepRuns(t.db, t.queues, 0)).toBe(lost.size);
    for (const id of lost) expect(await t.queues.runs.getJob(id), id).toBeDefined();
    expect(await sweepRuns(t.db, t.queues, 0)).toBe(0); // every active run has its job now
  });
});
