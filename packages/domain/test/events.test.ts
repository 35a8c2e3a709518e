import { SyncEvent } from '@historical-sync/contracts';
import { describe, expect, it } from 'vitest';
import {
  creditDeactivatedEvent,
  creditStateEvent,
  membershipCreatedEvent,
  organizationStateEvent,
} from '../src/events';

const tenantId = '11111111-1111-4111-8111-111111111111';
const org = {
  id: '22222222-2222-4222-8222-222222222222',
  code: 'acme',
  name: 'Acme',
  description: null,
  industry: 'retail',
  website: null,
  parent_id: null,
  is_active: true,
  created_at: new Date('2024-03-01T00:00:00Z'),
  updated_at: new Date('2024-05-01T00:00:00Z'),
  version: 4,
};
const runId = '33333333-3333-4333-8333-333333333333';

describe('row -> event builders', () => {
  it('give a historical and a live event of the same row version the same id and state', () => {
    const historical = organizationStateEvent('org.created', tenantId, org, {
      targetApplication: 'crm',
      isHistoricalSync: true,
      runId,
    });
    const live = organizationStateEvent('org.updated', tenantId, org, {
      targetApplication: 'crm',
      isHistoricalSync: false,
      runId: null,
    });
    expect(historical.eventId).toBe(`organization:${org.id}:v4`);
    expect(live.eventId).toBe(historical.eventId);
    const { eventType: _a, runId: _b, metadata: m1, ...stateA } = historical;
    const { eventType: _c, runId: _d, metadata: m2, ...stateB } = live;
    expect(stateA).toEqual(stateB);
    expect(m1).toMatchObject({ isHistoricalSync: true, targetApplication: 'crm' });
    expect(m2).toMatchObject({ isHistoricalSync: false });
    expect(historical.occurredAt).toBe('2024-05-01T00:00:00.000Z');
  });

  it('build events that pass the contracts, credits keeping their own application', () => {
    const credit = {
      id: '44444444-4444-4444-8444-444444444444',
      entity_id: org.id,
      target_application: 'hr',
      allocated_amount: 100,
      available_credits: 40,
      expires_at: null,
      allocated_at: new Date('2024-01-15T10:30:00Z'),
      updated_at: new Date('2024-01-16T00:00:00Z'),
      version: 2,
    };
    const delivery = { targetApplication: 'crm', isHistoricalSync: false, runId: null };
    const events = [
      creditStateEvent('credit.allocated', tenantId, credit, delivery),
      creditDeactivatedEvent(tenantId, credit, 'expired', delivery),
      membershipCreatedEvent(
        tenantId,
        {
          id: org.id,
          user_id: credit.id,
          organization_id: org.id,
          role: 'admin',
          created_at: org.created_at,
          updated_at: org.updated_at,
          version: 1,
        },
        delivery,
      ),
    ];
    for (const event of events) expect(SyncEvent.parse(event)).toEqual(event);
    expect(events[0]?.metadata.targetApplication).toBe('hr');
    // The spec names the membership's organization organizationId; entityId stays for consumers.
    expect(events[2]).toMatchObject({ entityId: org.id, organizationId: org.id, role: 'admin' });
    expect(events[0]).toMatchObject({
      amount: 100,
      availableCredits: 40,
      metadata: { originalAllocatedAt: '2024-01-15T10:30:00.000Z' },
    });
  });
});
