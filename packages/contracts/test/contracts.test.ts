import { describe, expect, it } from 'vitest';
import {
  applicationStreams,
  CreditAllocatedEvent,
  canonicalDateOrInstant,
  canonicalInstant,
  eventIdFor,
  HISTORICAL_EVENT_TYPE,
  OrgAssignmentCreatedEvent,
  OrgAssignmentRemovedEvent,
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

describe('membership events', () => {
  const membershipEvent = {
    eventId: eventIdFor('membership', allocationId, 1),
    eventType: 'org.assignment.created',
    tenantId,
    version: 1,
    occurredAt: '2024-01-15T10:30:00.000Z',
    runId: null,
    membershipId: allocationId,
    userId: '8a2b1c9d-0000-4000-8000-000000000003',
    entityId,
    organizationId: entityId,
    role: 'admin',
    metadata: {
      targetApplication: 'crm',
      isHistoricalSync: false,
      originalCreatedAt: '2024-01-15T10:30:00.000Z',
    },
  };

  it("carry the spec's organizationId beside entityId, created and removed alike", () => {
    expect(OrgAssignmentCreatedEvent.parse(membershipEvent)).toEqual(membershipEvent);
    const removed = { ...membershipEvent, eventType: 'org.assignment.removed' };
    expect(OrgAssignmentRemovedEvent.parse(removed)).toEqual(removed);
  });

  it('still read an entry written before organizationId existed, and refuse a malformed one', () => {
    const { organizationId: _, ...older } = membershipEvent;
    expect(SyncEvent.parse(older)).toEqual(older);
    const result = SyncEvent.safeParse({ ...membershipEvent, organizationId: 'not-a-uuid' });
    expect(result.error?.issues.map((issue) => issue.path)).toContainEqual(['organizationId']);
  });
});

describe('canonical instants', () => {
  it('keep microseconds, in UTC, and write whole milliseconds as toISOString does', () => {
    expect(canonicalInstant('2024-06-01T00:00:00.600700Z')).toBe('2024-06-01T00:00:00.600700Z');
    expect(canonicalInstant('2024-06-01T02:00:00.600500+02:00')).toBe(
      '2024-06-01T00:00:00.600500Z',
    );
    expect(canonicalInstant('2024-06-01T00:00:00.6Z')).toBe('2024-06-01T00:00:00.600Z');
    expect(canonicalInstant('2024-06-01T00:00:00Z')).toBe(new Date('2024-06-01').toISOString());
    expect(canonicalInstant('2024-05-31T23:30:00.000001-00:45')).toBe(
      '2024-06-01T00:15:00.000001Z',
    );
    expect(canonicalDateOrInstant('2024-06-01')).toBe('2024-06-01T00:00:00.000Z');
  });

  it('refuse more than six fractional digits, impossible dates and years beyond 0001-9999', () => {
    expect(canonicalInstant('2024-06-01T00:00:00.6005001Z')).toBeNull();
    expect(canonicalInstant('2024-02-30T00:00:00Z')).toBeNull();
    expect(canonicalInstant('0000-12-31T23:59:59Z')).toBeNull();
    expect(canonicalInstant('0001-01-01T00:30:00+01:00')).toBeNull();
    expect(canonicalInstant('2024-06-01T00:00:00')).toBeNull();
    expect(canonicalDateOrInstant('2024-13-01')).toBeNull();
  });
});
