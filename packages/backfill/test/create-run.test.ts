/**
 * createRun's race, made to happen every time: the insert loses to an active run, and that run
 * ends before the loser reads it. A plugin ends the run right after the losing insert returns.
 */
import { canonicalInstant, RESOURCES } from '@historical-sync/contracts';
import { seedTenant } from '@historical-sync/db';
import { createTestDatabase, type TestDatabase } from '@historical-sync/db/testing';
import type {
  KyselyPlugin,
  PluginTransformQueryArgs,
  PluginTransformResultArgs,
  QueryId,
} from 'kysely';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRun, type RunRequest } from '../src/runs/runs';

/** After each insert into backfill_runs that inserted nothing, calls `onLostInsert` first. */
class LostInsertHook implements KyselyPlugin {
  private readonly runInserts = new Set<QueryId>();
  lostInserts = 0;
  constructor(private readonly onLostInsert: () => Promise<void>) {}

  transformQuery({ node, queryId }: PluginTransformQueryArgs) {
    if (node.kind === 'InsertQueryNode' && node.into?.table.identifier.name === 'backfill_runs') {
      this.runInserts.add(queryId);
    }
    return node;
  }

  async transformResult({ queryId, result }: PluginTransformResultArgs) {
    if (this.runInserts.delete(queryId) && result.rows.length === 0) {
      this.lostInserts += 1;
      await this.onLostInsert();
    }
    return result;
  }
}

describe('createRun', () => {
  let test: TestDatabase;
  let request: RunRequest;

  beforeAll(async () => {
    test = await createTestDatabase('create_run');
    const { tenantId } = await seedTenant(test.db, {
      tenantName: 'create-run',
      organizations: 1,
      memberships: 0,
      creditAllocations: 0,
      app: 'crm',
      seed: 1,
    });
    const application = await test.db
      .selectFrom('applications')
      .selectAll()
      .where('code', '=', 'crm')
      .executeTakeFirstOrThrow();
    request = {
      tenantId,
      applicationId: application.id,
      appCode: 'crm',
      trigger: 'manual',
      resources: RESOURCES,
      sinceDate: '2024-06-01T00:00:00.600500Z',
      pageSize: 100,
      maxEventsPerSecond: null,
    };
  });
  afterAll(async () => {
    await test.destroy();
  });

  const activeRuns = async () =>
    test.db
      .selectFrom('backfill_runs')
      .select(['id', 'status'])
      .where('tenant_id', '=', request.tenantId)
      .where('status', 'in', ['queued', 'running', 'paused'])
      .execute();

  it('returns the active run when there is one', async () => {
    const first = await createRun(test.db, request);
    expect(first.created).toBe(true);
    expect(first.run.since_date).toBe('2024-06-01T00:00:00.600500Z');
    const second = await createRun(test.db, request);
    expect(second).toMatchObject({ created: false, run: { id: first.run.id } });
    expect(await activeRuns()).toHaveLength(1);
  });

  it("reads since_date back exactly as canonicalInstant writes it (Postgres's rendering)", async () => {
    const [active] = await activeRuns();
    await sql`UPDATE backfill_runs SET status = 'completed' WHERE id = ${active?.id}`.execute(
      test.db,
    );
    for (const since of [
      '2024-06-01T00:00:00.000001Z',
      '2024-06-01T00:00:00.600Z',
      '2024-06-01T00:00:00.000Z',
      '0001-01-01T00:00:00.999999Z',
      '9999-12-31T23:59:59.123456Z',
    ]) {
      expect(canonicalInstant(since)).toBe(since);
      const { run } = await createRun(test.db, { ...request, sinceDate: since });
      expect(run.since_date).toBe(since);
      await sql`UPDATE backfill_runs SET status = 'completed' WHERE id = ${run.id}`.execute(
        test.db,
      );
    }
    // The run the next tests race against.
    expect((await createRun(test.db, request)).created).toBe(true);
  });

  it('tries again when the run it lost to ends before it reads it, and creates one', async () => {
    const [winner] = await activeRuns();
    expect(winner).toBeDefined();
    const hook = new LostInsertHook(async () => {
      await sql`UPDATE backfill_runs SET status = 'completed', finished_at = now() WHERE id = ${winner?.id}`.execute(
        test.db,
      );
    });
    const result = await createRun(test.db.withPlugin(hook), request);
    expect(hook.lostInserts).toBe(1);
    expect(result.created).toBe(true);
    expect(result.run.id).not.toBe(winner?.id);
    expect(await activeRuns()).toEqual([{ id: result.run.id, status: 'queued' }]);
  });

  it('does the same inside a caller transaction (the toggle and the manual sync pass one)', async () => {
    const [winner] = await activeRuns();
    const hook = new LostInsertHook(async () => {
      await sql`UPDATE backfill_runs SET status = 'cancelled', finished_at = now() WHERE id = ${winner?.id}`.execute(
        test.db,
      );
    });
    const result = await test.db
      .withPlugin(hook)
      .transaction()
      .execute((trx) => createRun(trx, request));
    expect(hook.lostInserts).toBe(1);
    expect(result.created).toBe(true);
    expect(await activeRuns()).toEqual([{ id: result.run.id, status: 'queued' }]);
  });
});
