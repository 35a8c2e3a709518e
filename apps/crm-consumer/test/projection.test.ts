/**
 * The CRM's apply rule on its real database: any order of historical and live events for a row
 * ends in the newest state; duplicates and other applications' events change nothing.
 */
import { randomUUID } from 'node:crypto';
import type { StreamEvent } from '@historical-sync/contracts';
import { createPool, runMigrations } from '@historical-sync/db';
import { createTestDatabase, type TestDatabase } from '@historical-sync/db/testing';
import { Kysely, PostgresDialect } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { crmMigrations } from '../migrations/index';
import { completeRunIfReady } from '../src/handlers/sync-marker';
import { applyEvent, inSyncSince } from '../src/projection';
import type { CrmDatabase, CrmDb } from '../src/schema';

const tenantId = randomUUID();
const at = new Date('2024-06-01T00:00:00Z').toISOString();
const org = (version: number, extra: Partial<Record<string, unknown>> = {}) =>
  ({
    eventId: `organization:${extra.entityId}:v${version}`,
    eventType: 'org.updated',
    tenantId,
    version,
    occurredAt: at,
    runId: null,
    code: 'acme',
    name: `v${version}`,
    description: null,
    industry: null,
    website: null,
    parentId: null,
    isActive: true,
    metadata: { targetApplication: 'crm', isHistoricalSync: false, originalCreatedAt: at },
    ...extra,
  }) as StreamEvent;

describe('CRM projection', () => {
  let test: TestDatabase;
  let db: CrmDb;
  beforeAll(async () => {
    test = await createTestDatabase('crm_projection', { migrate: false });
    db = new Kysely<CrmDatabase>({
      dialect: new PostgresDialect({
        pool: createPool({ connectionString: test.url, maxConnections: 3 }),
      }),
    });
    await runMigrations(db, crmMigrations);
  });
  afterAll(async () => {
    await db.destroy();
    await test.destroy();
  });

  const row = (id: string) =>
    db.selectFrom('crm_organizations').selectAll().where('id', '=', id).executeTakeFirst();

  it('keeps the newest version whatever the arrival order, and skips duplicates', async () => {
    const entityId = randomUUID();
    expect(await applyEvent(db, org(3, { entityId }), 'crm')).toEqual({ kind: 'applied' });
    // A historical read of version 2 arrives late: ignored.
    expect(
      await applyEvent(
        db,
        org(2, { entityId, eventType: 'org.created', runId: randomUUID() }),
        'crm',
      ),
    ).toEqual({ kind: 'stale' });
    expect(await applyEvent(db, org(3, { entityId }), 'crm')).toEqual({ kind: 'duplicate' });
    expect(await row(entityId)).toMatchObject({ name: 'v3', version: 3, is_active: true });
  });

  it('keeps a removal as a tombstone, even when it arrives before the creation', async () => {
    const entityId = randomUUID();
    const deleted = org(2, { entityId, eventType: 'org.deleted', isActive: false, name: 'final' });
    expect(await applyEvent(db, deleted, 'crm')).toEqual({ kind: 'applied' });
    expect(await applyEvent(db, org(1, { entityId, eventType: 'org.created' }), 'crm')).toEqual({
      kind: 'stale',
    });
    expect(await row(entityId)).toMatchObject({ is_active: false, version: 2, name: 'final' });
  });

  it("ignores another application's events", async () => {
    const entityId = randomUUID();
    const forHr = org(1, {
      entityId,
      metadata: { targetApplication: 'hr', isHistoricalSync: false, originalCreatedAt: at },
    });
    expect(await applyEvent(db, forHr, 'crm')).toEqual({ kind: 'ignored' });
    expect(await row(entityId)).toBeUndefined();
  });

  const marker = (
    runId: string,
    eventType: 'sync.started' | 'sync.completed',
    resource: string,
  ): StreamEvent =>
    ({
      eventId: `run:${runId}:${eventType}:${resource}`,
      eventType,
      tenantId,
      runId,
      resource,
      resources: ['credits', 'organizations'],
      occurredAt: at,
      metadata: { targetApplication: 'crm', isHistoricalSync: true },
      ...(eventType === 'sync.started'
        ? { total: 1 }
        : { counts: { credits: 1, organizations: 1 } }),
    }) as StreamEvent;

  it('reports "in sync since" once every resource of a run has its completed marker', async () => {
    const runId = randomUUID();
    await applyEvent(db, marker(runId, 'sync.started', 'credits'), 'crm');
    await applyEvent(db, marker(runId, 'sync.completed', 'credits'), 'crm');
    expect(await inSyncSince(db, tenantId)).toBeNull();
    const last = await applyEvent(db, marker(runId, 'sync.completed', 'organizations'), 'crm');
    expect(last).toMatchObject({
      kind: 'marker',
      run: { runId, allResourcesDone: true, newlyCompleted: true, completedAt: expect.any(Date) },
    });
    expect(await inSyncSince(db, tenantId)).toEqual(
      (last as { run: { completedAt: Date } }).run.completedAt,
    );
  });

  it('keeps a run with dead-lettered entries incomplete until they are gone', async () => {
    const otherTenant = randomUUID();
    const runId = randomUUID();
    const forTenant = (event: StreamEvent) => ({ ...event, tenantId: otherTenant }) as StreamEvent;
    await applyEvent(db, forTenant(marker(runId, 'sync.completed', 'credits')), 'crm', 2);
    const last = await applyEvent(
      db,
      forTenant(marker(runId, 'sync.completed', 'organizations')),
      'crm',
      2,
    );
    expect(last).toMatchObject({
      kind: 'marker',
      run: { allResourcesDone: true, deadLettered: 2, completedAt: null, newlyCompleted: false },
    });
    expect(await inSyncSince(db, otherTenant)).toBeNull();
    // The replay handled them: the run completes, once.
    const replayed = await completeRunIfReady(db, runId, 0);
    expect(replayed).toMatchObject({ newlyCompleted: true, completedAt: expect.any(Date) });
    expect(await completeRunIfReady(db, runId, 0)).toMatchObject({ newlyCompleted: false });
    expect(await inSyncSince(db, otherTenant)).toEqual(replayed.completedAt);
  });
});
