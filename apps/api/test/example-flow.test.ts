/**
 * The spec's example flow end to end through HTTP: a tenant with 5 organizations, 10 memberships
 * and 1 credit allocation for crm enables crm; exactly 1 + 5 + 10 historical events appear.
 */

import { SyncEvent } from '@historical-sync/contracts';
import { seedTenant } from '@historical-sync/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiTestContext, auth, createApiTestContext } from './helpers';

describe('enabling crm for the spec example tenant', () => {
  let t: ApiTestContext;
  let tenantId: string;
  let otherTenantId: string;

  beforeAll(async () => {
    t = await createApiTestContext('example_flow');
    t.startWorkers();
    ({ tenantId } = await seedTenant(t.db, {
      tenantName: 'example',
      organizations: 5,
      memberships: 10,
      creditAllocations: 1,
      app: 'crm',
      seed: 1,
    }));
    // Rows that must not be published: another tenant's, another app's credits, inactive rows,
    // and entities that are not organizations.
    ({ tenantId: otherTenantId } = await seedTenant(t.db, {
      tenantName: 'other',
      organizations: 3,
      memberships: 4,
      creditAllocations: 2,
      app: 'crm',
      seed: 2,
    }));
    const org = await t.db
      .selectFrom('entities')
      .select('id')
      .where('tenant_id', '=', tenantId)
      .executeTakeFirstOrThrow();
    await t.db
      .insertInto('credit_allocations')
      .values([
        {
          tenant_id: tenantId,
          entity_id: org.id,
          target_application: 'hr',
          allocated_amount: 5,
          available_credits: 5,
          expires_at: null,
        },
        {
          tenant_id: tenantId,
          entity_id: org.id,
          target_application: 'crm',
          allocated_amount: 7,
          available_credits: 7,
          expires_at: null,
          is_active: false,
        },
      ])
      .execute();
    await t.db
      .insertInto('entities')
      .values({
        tenant_id: tenantId,
        entity_type: 'department',
        code: 'dept-1',
        name: 'Sales',
        description: null,
        industry: null,
        website: null,
        parent_id: org.id,
      })
      .execute();
    await t.db
      .insertInto('organization_memberships')
      .values({
        tenant_id: tenantId,
        user_id: crypto.randomUUID(),
        organization_id: org.id,
        role: 'member',
        is_active: false,
      })
      .execute();
  });
  afterAll(async () => {
    await t.close();
  });

  it('publishes exactly 1 credit, 5 organization and 10 membership events, valid and flagged historical', async () => {
    const response = await t.app.inject({
      method: 'POST',
      url: `/admin/organizations/${tenantId}/applications/crm/toggle`,
      headers: auth,
      payload: { isEnabled: true },
    });
    expect(response.statusCode, response.body).toBe(200);
    const body = response.json();
    expect(body).toMatchObject({ isEnabled: true, changed: true, application: { code: 'crm' } });
    expect(body.runId).toMatch(/^[0-9a-f-]{36}$/);

    const run = await t.waitForRun(body.runId);
    expect(run.status).toBe('completed');

    const streams = t.streams('crm');
    const credits = await t.readEvents(streams.credits);
    const organizations = await t.readEvents(streams.organizations);
    const memberships = await t.readEvents(streams.memberships);
    expect(credits).toHaveLength(1);
    expect(organizations).toHaveLength(5);
    expect(memberships).toHaveLength(10);

    const all = [...credits, ...organizations, ...memberships];
    for (const event of all) {
      expect(SyncEvent.safeParse(event).success).toBe(true);
      expect(event.tenantId).toBe(tenantId);
      expect(event.tenantId).not.toBe(otherTenantId);
      expect(event.runId).toBe(body.runId);
      expect(event.metadata.isHistoricalSync).toBe(true);
      expect(event.metadata.targetApplication).toBe('crm');
    }
    expect(new Set(all.map((e) => e.eventId)).size).toBe(16);
    expect(credits.map((e) => e.eventType)).toEqual(['credit.allocated']);
    expect(new Set(organizations.map((e) => e.eventType))).toEqual(new Set(['org.created']));
    expect(new Set(memberships.map((e) => e.eventType))).toEqual(
      new Set(['org.assignment.created']),
    );

    // The published rows are exactly the tenant's active crm credit, organizations and active memberships.
    const expectedOrgIds = await t.db
      .selectFrom('entities')
      .select('id')
      .where('tenant_id', '=', tenantId)
      .where('entity_type', '=', 'organization')
      .orderBy('id')
      .execute();
    const orgIds = organizations
      .map((e) => (e.eventType === 'org.created' ? e.entityId : ''))
      .sort();
    expect(orgIds).toEqual(expectedOrgIds.map((o) => o.id));
    const credit = credits[0];
    if (credit?.eventType !== 'credit.allocated') throw new Error('expected a credit event');
    expect(credit.metadata.originalAllocatedAt).toMatch(/^2024-/);
  });

  it('brackets each stream with one sync.started and one sync.completed marker', async () => {
    const run = await t.db
      .selectFrom('backfill_runs')
      .select('id')
      .where('tenant_id', '=', tenantId)
      .executeTakeFirstOrThrow();
    const streams = t.streams('crm');
    const expectedTotals = { credits: 1, organizations: 5, memberships: 10 } as const;
    for (const resource of ['credits', 'organizations', 'memberships'] as const) {
      const entries = await t.redis.xrange(streams[resource], '-', '+');
      const types = entries.map(([, fields]) => JSON.parse(fields[1] as string).eventType);
      expect(types[0]).toBe('sync.started');
      expect(types.at(-1)).toBe('sync.completed');
      expect(types.filter((type) => type.startsWith('sync.'))).toHaveLength(2);
      const markers = await t.readMarkers(streams[resource]);
      expect(markers[0]).toMatchObject({
        runId: run.id,
        resource,
        total: expectedTotals[resource],
        resources: ['credits', 'memberships', 'organizations'],
      });
      expect(markers[1]).toMatchObject({ runId: run.id, resource, counts: expectedTotals });
    }
  });

  it('reports the completed run in sync-status', async () => {
    const response = await t.app.inject({
      method: 'GET',
      url: `/admin/organizations/${tenantId}/applications/crm/sync-status`,
      headers: auth,
    });
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json()).toMatchObject({
      isEnabled: true,
      counts: {
        activeCreditAllocations: 1,
        organizations: 5,
        // The spec's total counts the inactive membership too; the backfill publishes the 10 active.
        memberships: 11,
        activeMemberships: 10,
      },
      syncNeeded: false,
      latestRun: {
        status: 'completed',
        published: 16,
        total: 16,
        percent: 100,
        lastError: null,
        resources: {
          credits: { status: 'completed', published: 1, total: 1 },
          organizations: { status: 'completed', published: 5, total: 5 },
          memberships: { status: 'completed', published: 10, total: 10 },
        },
      },
    });
  });
});
