/**
 * `sinceDate` to the microsecond Postgres keeps: rows created a microsecond before, at and after
 * it. The dry run's counts, the run's totals and published events, and the echoes in the answers
 * all agree with SQL's own `created_at >= $since`; a JavaScript Date (milliseconds) would count
 * the row a microsecond before as well.
 */
import { type Resource, resourceJobId, subjectIdOf } from '@historical-sync/contracts';
import { seedTenant } from '@historical-sync/db';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiTestContext, auth, createApiTestContext } from './helpers';

const SINCE = '2024-06-01T00:00:00.600500Z';
const AROUND = ['2024-06-01T00:00:00.600499Z', SINCE, '2024-06-01T00:00:00.600501Z'];

/** Each resource's table, its date column and the rows the application receives. */
const TABLES = {
  credits: {
    table: 'credit_allocations',
    column: 'allocated_at',
    where: sql`target_application = 'crm' AND is_active`,
  },
  organizations: {
    table: 'entities',
    column: 'created_at',
    where: sql`entity_type = 'organization'`,
  },
  memberships: {
    table: 'organization_memberships',
    column: 'created_at',
    where: sql`is_active`,
  },
} as const satisfies Record<Resource, unknown>;
const RESOURCE_NAMES = Object.keys(TABLES) as Resource[];

describe('sinceDate at microsecond precision', () => {
  let t: ApiTestContext;
  let tenantId: string;

  beforeAll(async () => {
    t = await createApiTestContext('since_micro');
    t.startWorkers();
    ({ tenantId } = await seedTenant(t.db, {
      tenantName: 'since-micro',
      organizations: 6,
      memberships: 12,
      creditAllocations: 6,
      app: 'crm',
      seed: 5,
    }));
    // Every row well before the boundary, then three of each kind around it.
    for (const { table, column, where } of Object.values(TABLES)) {
      await sql`UPDATE ${sql.table(table)} SET ${sql.ref(column)} = '2024-01-01T00:00:00Z' WHERE tenant_id = ${tenantId}`.execute(
        t.db,
      );
      const { rows } = await sql<{ id: string }>`
        SELECT id FROM ${sql.table(table)} WHERE tenant_id = ${tenantId} AND ${where} ORDER BY id LIMIT 3
      `.execute(t.db);
      expect(rows).toHaveLength(3);
      for (const [i, row] of rows.entries()) {
        await sql`UPDATE ${sql.table(table)} SET ${sql.ref(column)} = ${AROUND[i]}::timestamptz WHERE id = ${row.id}`.execute(
          t.db,
        );
      }
    }
    const enabled = await t.app.inject({
      method: 'POST',
      url: `/admin/organizations/${tenantId}/applications/crm/toggle`,
      headers: auth,
      payload: { isEnabled: true, skipHistoricalSync: true },
    });
    expect(enabled.statusCode).toBe(200);
  });
  afterAll(async () => {
    await t.close();
  });

  /** What SQL selects with the boundary as Postgres reads it: the ids of each resource's rows. */
  const selectedBySql = async () => {
    const selected = {} as Record<Resource, string[]>;
    for (const resource of RESOURCE_NAMES) {
      const { table, column, where } = TABLES[resource];
      const { rows } = await sql<{ id: string }>`
        SELECT id FROM ${sql.table(table)}
        WHERE tenant_id = ${tenantId} AND ${where} AND ${sql.ref(column)} >= ${SINCE}::timestamptz
        ORDER BY id
      `.execute(t.db);
      selected[resource] = rows.map((row) => row.id);
    }
    return selected;
  };
  const sync = (payload: object) =>
    t.app.inject({
      method: 'POST',
      url: `/admin/organizations/${tenantId}/applications/crm/sync-historical`,
      headers: auth,
      payload,
    });

  it('selects the rows at and after the boundary, not the one a microsecond before', async () => {
    const expected = await selectedBySql();
    // The row at .600500 and the one at .600501, of each kind: a millisecond filter would take 3.
    for (const resource of RESOURCE_NAMES) expect(expected[resource]).toHaveLength(2);

    const dry = await sync({ dryRun: true, sinceDate: SINCE });
    expect(dry.statusCode).toBe(200);
    expect(dry.json()).toEqual({
      dryRun: true,
      appCode: 'crm',
      sinceDate: SINCE,
      counts: { credits: 2, organizations: 2, memberships: 2 },
      total: 6,
    });

    const real = await sync({ sinceDate: SINCE });
    expect(real.statusCode).toBe(202);
    const { runId, statusUrl } = real.json();
    await t.waitForRun(runId, ['completed']);
    // The job carried the boundary as text, every digit of it (kept after completion).
    const job = await t.queues.resources.memberships.getJob(resourceJobId(runId, 'memberships'));
    expect(job?.data.sinceDate).toBe(SINCE);

    const streams = t.streams('crm');
    for (const resource of RESOURCE_NAMES) {
      const published = (await t.readEvents(streams[resource])).filter((e) => e.runId === runId);
      expect(published.map(subjectIdOf).sort(), resource).toEqual(expected[resource]);
    }

    const runView = await t.app.inject({ method: 'GET', url: statusUrl, headers: auth });
    expect(runView.json()).toMatchObject({
      sinceDate: SINCE,
      published: 6,
      total: 6,
      resources: {
        credits: { published: 2, total: 2 },
        organizations: { published: 2, total: 2 },
        memberships: { published: 2, total: 2 },
      },
    });
    const status = await t.app.inject({
      method: 'GET',
      url: `/admin/organizations/${tenantId}/applications/crm/sync-status`,
      headers: auth,
    });
    expect(status.json().latestRun).toMatchObject({ runId, sinceDate: SINCE, total: 6 });
  });

  it('echoes the microseconds given, in UTC, and whole milliseconds as before', async () => {
    const echo = async (sinceDate: string) => (await sync({ dryRun: true, sinceDate })).json();
    expect((await echo('2024-06-01T00:00:00.600700Z')).sinceDate).toBe(
      '2024-06-01T00:00:00.600700Z',
    );
    // An offset moves the hour, never the fraction.
    const shifted = await echo('2024-06-01T02:00:00.6005+02:00');
    expect(shifted.sinceDate).toBe(SINCE);
    expect(shifted.counts).toEqual({ credits: 2, organizations: 2, memberships: 2 });
    expect((await echo('2024-06-01T00:00:00.600Z')).sinceDate).toBe('2024-06-01T00:00:00.600Z');
    expect((await echo('2024-06-01')).sinceDate).toBe('2024-06-01T00:00:00.000Z');
    // A microsecond before takes the third row of each kind as well.
    expect((await echo('2024-06-01T00:00:00.600499Z')).total).toBe(9);
  });

  it('refuses a sinceDate finer than a microsecond with a 400 that says so', async () => {
    const response = await sync({ dryRun: true, sinceDate: '2024-06-01T00:00:00.6005001Z' });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({
      field: 'sinceDate',
      message: expect.stringContaining('Postgres keeps microseconds'),
    });
  });
});
