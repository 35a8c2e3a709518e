/**
 * The run state machine against the real Postgres: every transition of the table applies from
 * each of its `from` statuses and lands on its `to`; a sample of the others is refused, leaving
 * the status as it was. The same for partitions.
 */
import { RESOURCES, RUN_RESOURCE_STATUSES } from '@historical-sync/contracts';
import { type Db, seedTenant } from '@historical-sync/db';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  applyControl,
  completeRun,
  failRun,
  finishPartition,
  markRunRetried,
  PARTITION_TRANSITIONS,
  type PartitionRef,
  type PartitionStatus,
  RUN_STATUSES,
  RUN_TRANSITIONS,
  type RunStatus,
  type RunTransitionName,
  reviveFailedRun,
  startPartition,
  startRun,
} from '../src/runs/run-state';
import { createRun, getRun } from '../src/runs/runs';
import { type BackfillTestContext, createBackfillTestContext } from '../src/testing';

describe('run state machine', () => {
  let t: BackfillTestContext;
  let tenantId: string;
  let applicationId: string;
  beforeAll(async () => {
    t = await createBackfillTestContext('run_state');
    ({ tenantId } = await seedTenant(t.db, {
      tenantName: 'states',
      organizations: 0,
      memberships: 0,
      creditAllocations: 0,
      app: 'crm',
      seed: 3,
    }));
    const app = await t.db
      .selectFrom('applications')
      .select('id')
      .where('code', '=', 'crm')
      .executeTakeFirstOrThrow();
    applicationId = app.id;
  });
  afterAll(async () => {
    await t.close();
  });

  /** A fresh run (one partition per resource) put in `status`; earlier runs end first. */
  async function runIn(status: RunStatus): Promise<string> {
    await sql`UPDATE backfill_runs SET status = 'completed' WHERE tenant_id = ${tenantId}`.execute(
      t.db,
    );
    const { run, created } = await createRun(t.db, {
      tenantId,
      applicationId,
      appCode: 'crm',
      trigger: 'manual',
      resources: RESOURCES,
      sinceDate: null,
      pageSize: 10,
      maxEventsPerSecond: null,
    });
    expect(created).toBe(true);
    expect(run.status).toBe(RUN_TRANSITIONS.create.to[0]);
    await sql`UPDATE backfill_runs SET status = ${status} WHERE id = ${run.id}`.execute(t.db);
    return run.id;
  }

  const statusOf = async (runId: string) => (await getRun(t.db, runId))?.status;

  /** Performs the transition `name` towards `to`; true when the run moved. */
  async function perform(
    db: Db,
    runId: string,
    name: Exclude<RunTransitionName, 'create'>,
    to: RunStatus,
  ): Promise<boolean> {
    switch (name) {
      case 'start':
        return startRun(db, runId);
      case 'fail':
        return failRun(db, runId, 'a job failed');
      case 'complete':
        return completeRun(db, runId, 1);
      case 'revive':
        return reviveFailedRun(db, runId, { resource: 'credits', partition: 0 });
      case 'retry':
        return markRunRetried(db, runId);
      default:
        return (await applyControl(db, runId, name, to, { controlSeq: 1 })) !== undefined;
    }
  }

  const transitions = Object.entries(RUN_TRANSITIONS).filter(
    (entry): entry is [Exclude<RunTransitionName, 'create'>, (typeof entry)[1]] =>
      entry[0] !== 'create',
  );

  it('applies every allowed run transition', async () => {
    for (const [name, rule] of transitions) {
      for (const from of rule.from) {
        for (const to of rule.to) {
          const runId = await runIn(from);
          expect(await perform(t.db, runId, name, to), `${name}: ${from} -> ${to}`).toBe(true);
          expect(await statusOf(runId), `${name}: ${from} -> ${to}`).toBe(to);
        }
      }
    }
  });

  it('refuses a run transition from any other status, leaving the run as it was', async () => {
    for (const [name, rule] of transitions) {
      const refused = RUN_STATUSES.filter((s) => !(rule.from as readonly RunStatus[]).includes(s));
      expect(refused.length, name).toBeGreaterThan(0);
      for (const from of refused) {
        const runId = await runIn(from);
        expect(await perform(t.db, runId, name, rule.to[0]), `${name} from ${from}`).toBe(false);
        expect(await statusOf(runId), `${name} from ${from}`).toBe(from);
      }
    }
  });

  it('keeps a failed run failed while another of its jobs is still failed', async () => {
    const runId = await runIn('failed');
    await sql`UPDATE backfill_run_partitions SET status = 'failed' WHERE run_id = ${runId} AND resource = 'organizations'`.execute(
      t.db,
    );
    expect(await reviveFailedRun(t.db, runId, { resource: 'credits', partition: 0 })).toBe(false);
    expect(await reviveFailedRun(t.db, runId, { resource: 'organizations', partition: 0 })).toBe(
      true,
    );
    expect(await statusOf(runId)).toBe('running');
  });

  it('refuses a control towards a status it cannot lead to', async () => {
    const runId = await runIn('running');
    await expect(
      applyControl(t.db, runId, 'pause', 'cancelled', { controlSeq: 1 }),
    ).rejects.toThrow('pause cannot lead to cancelled');
    expect(await statusOf(runId)).toBe('running');
  });

  describe('partitions', () => {
    async function partitionIn(status: PartitionStatus): Promise<PartitionRef> {
      const runId = await runIn('running');
      const ref: PartitionRef = { runId, resource: 'organizations', partition: 0 };
      await sql`UPDATE backfill_run_partitions SET status = ${status} WHERE run_id = ${runId} AND resource = 'organizations'`.execute(
        t.db,
      );
      return ref;
    }
    const partitionStatus = async (ref: PartitionRef) => {
      const { rows } = await sql<{ status: PartitionStatus }>`
        SELECT status FROM backfill_run_partitions
        WHERE run_id = ${ref.runId} AND resource = ${ref.resource} AND partition = ${ref.partition}
      `.execute(t.db);
      return rows[0]?.status;
    };

    it('applies every allowed partition transition and refuses the others', async () => {
      for (const name of ['start', 'complete', 'fail', 'stop'] as const) {
        const rule = PARTITION_TRANSITIONS[name];
        for (const from of RUN_RESOURCE_STATUSES) {
          const allowed = (rule.from as readonly PartitionStatus[]).includes(from);
          const ref = await partitionIn(from);
          if (name === 'start') await startPartition(t.db, ref, 10);
          else {
            expect(
              await finishPartition(t.db, ref, name, { published: 0 }),
              `${name} from ${from}`,
            ).toBe(allowed);
          }
          expect(await partitionStatus(ref), `${name} from ${from}`).toBe(
            allowed ? rule.to[0] : from,
          );
        }
      }
    });

    it("closes a cancelled run's open partitions, and only those", async () => {
      const rule = PARTITION_TRANSITIONS.close;
      for (const from of RUN_RESOURCE_STATUSES) {
        const ref = await partitionIn(from);
        expect(
          await applyControl(t.db, ref.runId, 'cancel', 'cancelled', { controlSeq: 1 }),
        ).toBeDefined();
        const allowed = (rule.from as readonly PartitionStatus[]).includes(from);
        expect(await partitionStatus(ref), `close from ${from}`).toBe(allowed ? rule.to[0] : from);
      }
    });
  });
});
