import { describe, expect, it } from 'vitest';
import {
  applicationStreams,
  CreditAllocatedEvent,
  eventIdFor,
  HISTORICAL_EVENT_TYPE,
  RESOURCES,
  SyncEvent,
  streamName,
} from '../src/index';

const tenantId = '5b231355-879f-dc93-9f24-4273b2ef33d5';
const allocationId = '8a2b1c9d-0000-4000-8000-000000000001';
const entityId = '8a2b1c9d-0000-4000-8000-000000000002';

const creditEvent = {
  eventId: eventIdFor('credit', allocationId, 3),
  eventType: 'credit.allocated',
  tenantId,
  version: 3,
  occurredAt: '2024-01-15T10:30:00.000Z',
  runId: null,
  entityId,
  amount: 1000,
  availableCredits: 900,
  expiresAt: null,
  metadata: {
    allocationId,
    targetApplication: 'crm',
    isHistoricalSync: true,
    originalAllocatedAt: '2024-01-15T10:30:00Z',
  },
};

describe('stream names', () => {
  it('follow the spec: credit-events, and <app>:sync:organization:<kind>', () => {
    expect(streamName('credit.allocated', 'crm')).toBe('credit-events');
    expect(streamName('org.created', 'crm')).toBe('crm:sync:organization:org_created');
    expect(streamName('org.assignment.created', 'hr')).toBe(
      'hr:sync:organization:assignment_created',
    );
    expect(streamName('org.created', 'crm', 'staging:')).toBe(
      'staging:crm:sync:organization:org_created',
    );
  });

  it('list every stream an application reads, including each historical event type', () => {
    const streams = applicationStreams('crm');
    for (const resource of RESOURCES) {
      expect(streams).toContain(streamName(HISTORICAL_EVENT_TYPE[resource], 'crm'));
    }
  });
});

describe('event schemas', () => {
  it("accept the spec's credit.allocated event with the added fields", () => {
    expect(SyncEvent.parse(creditEvent)).toEqual(creditEvent);
    expect(creditEvent.eventId).toBe(`credit:${allocationId}:v3`);
  });

  it('reject an event with a missing or wrongly typed field, naming it', () => {
    const { amount: _, ...missing } = creditEvent;
    const result = CreditAllocatedEvent.safeParse(missing);
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.path).toEqual(['amount']);
    const wrong = SyncEvent.safeParse({ ...creditEvent, version: 0 });
    expect(wrong.error?.issues[0]?.path).toEqual(['version']);
    expect(SyncEvent.safeParse({ ...creditEvent, eventType: 'credit.stolen' }).success).toBe(false);
  });
});
