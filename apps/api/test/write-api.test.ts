/**
 * The write routes: each write changes its row (version up) and records exactly one outbox event
 * in the same transaction; bad references are 404, conflicts 409, and nothing is half-written.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiTestContext, auth, createApiTestContext } from './helpers';

describe('write API', () => {
  let t: ApiTestContext;
  let tenantId: string;
  let otherTenantId: string;

  beforeAll(async () => {
    t = await createApiTestContext('write_api');
    tenantId = (
      await t.db
        .insertInto('tenants')
        .values({ name: 'writer' })
        .returning('id')
        .executeTakeFirstOrThrow()
    ).id;
    otherTenantId = (
      await t.db
        .insertInto('tenants')
        .values({ name: 'other' })
        .returning('id')
        .executeTakeFirstOrThrow()
    ).id;
  });
  afterAll(async () => {
    await t.close();
  });

  const call = (
    method: 'POST' | 'PATCH' | 'DELETE',
    path: string,
    payload?: object,
    tenant = tenantId,
  ) =>
    t.app.inject({
      method,
      url: `/admin/organizations/${tenant}${path}`,
      headers: auth,
      ...(payload ? { payload } : {}),
    });
  const outboxFor = (aggregateId: string) =>
    t.db
      .selectFrom('outbox')
      .selectAll()
      .where('aggregate_id', '=', aggregateId)
      .orderBy('id')
      .execute();

  it('creates, updates and deletes an organization, one outbox event per write with the row version', async () => {
    const created = await call('POST', '/organizations', {
      code: 'acme',
      name: 'Acme',
      industry: 'retail',
    });
    expect(created.statusCode, created.body).toBe(201);
    const org = created.json();
    expect(org).toMatchObject({ code: 'acme', name: 'Acme', isActive: true, version: 1 });

    const updated = await call('PATCH', `/organizations/${org.id}`, { name: 'Acme Corp' });
    expect(updated.json()).toMatchObject({ name: 'Acme Corp', version: 2 });
    const deleted = await call('DELETE', `/organizations/${org.id}`);
    expect(deleted.json()).toMatchObject({ isActive: false, version: 3 });

    const events = await outboxFor(org.id);
    expect(events.map((e) => [e.event_type, e.version])).toEqual([
      ['org.created', 1],
      ['org.updated', 2],
      ['org.deleted', 3],
    ]);
    expect(JSON.parse(events[1]?.event ?? 'null')).toMatchObject({
      eventId: `organization:${org.id}:v2`,
      name: 'Acme Corp',
    });

    expect((await call('PATCH', `/organizations/${org.id}`, { name: 'again' })).statusCode).toBe(
      409,
    );
    expect((await call('DELETE', `/organizations/${org.id}`)).statusCode).toBe(409);
    expect(await outboxFor(org.id)).toHaveLength(3);
  });

  it('allocates, updates and deactivates credits', async () => {
    const org = (
      await call('POST', '/organizations', { code: 'credits-org', name: 'Credits' })
    ).json();
    const allocated = await call('POST', '/credit-allocations', {
      entityId: org.id,
      targetApplication: 'crm',
      amount: 1000,
      expiresAt: '2030-01-01T00:00:00Z',
    });
    expect(allocated.statusCode, allocated.body).toBe(201);
    const allocation = allocated.json();
    expect(allocation).toMatchObject({
      amount: 1000,
      availableCredits: 1000,
      version: 1,
      expiresAt: '2030-01-01T00:00:00.000Z',
    });

    const updated = await call('PATCH', `/credit-allocations/${allocation.id}`, {
      availableCredits: 400,
    });
    expect(updated.json()).toMatchObject({ availableCredits: 400, version: 2 });
    const tooMuch = await call('PATCH', `/credit-allocations/${allocation.id}`, {
      availableCredits: 5000,
    });
    expect(tooMuch.statusCode).toBe(400);
    expect(tooMuch.json()).toMatchObject({ field: 'availableCredits' });
    const expired = await call('POST', `/credit-allocations/${allocation.id}/deactivate`, {
      reason: 'expired',
    });
    expect(expired.json()).toMatchObject({ isActive: false, version: 3 });

    const events = await outboxFor(allocation.id);
    expect(events.map((e) => e.event_type)).toEqual([
      'credit.allocated',
      'credit.updated',
      'credit.deactivated',
    ]);
    expect(JSON.parse(events[2]?.event ?? 'null')).toMatchObject({
      reason: 'expired',
      metadata: { targetApplication: 'crm' },
    });
  });

  it('adds and removes memberships; a second active membership is a conflict', async () => {
    const org = (
      await call('POST', '/organizations', { code: 'members-org', name: 'Members' })
    ).json();
    const userId = randomUUID();
    const added = await call('POST', '/memberships', {
      userId,
      organizationId: org.id,
      role: 'admin',
    });
    expect(added.statusCode, added.body).toBe(201);
    expect(
      (await call('POST', '/memberships', { userId, organizationId: org.id, role: 'member' }))
        .statusCode,
    ).toBe(409);
    const removed = await call('DELETE', `/memberships/${added.json().id}`);
    expect(removed.json()).toMatchObject({ isActive: false, version: 2 });
    expect((await call('DELETE', `/memberships/${added.json().id}`)).statusCode).toBe(409);
    // After removal the user may join again.
    expect(
      (await call('POST', '/memberships', { userId, organizationId: org.id, role: 'member' }))
        .statusCode,
    ).toBe(201);
    expect((await outboxFor(added.json().id)).map((e) => e.event_type)).toEqual([
      'org.assignment.created',
      'org.assignment.removed',
    ]);
  });

  it("answers 404 for unknown references, including another tenant's organization, and writes nothing", async () => {
    const theirs = (
      await call('POST', '/organizations', { code: 'theirs', name: 'Theirs' }, otherTenantId)
    ).json();
    const before = await t.db
      .selectFrom('outbox')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();

    const cases = [
      call('POST', '/memberships', {
        userId: randomUUID(),
        organizationId: theirs.id,
        role: 'member',
      }),
      call('POST', '/credit-allocations', {
        entityId: theirs.id,
        targetApplication: 'crm',
        amount: 1,
      }),
      call('PATCH', `/organizations/${theirs.id}`, { name: 'stolen' }),
      call('DELETE', `/organizations/${theirs.id}`),
      call('POST', '/organizations', { code: 'child', name: 'Child', parentId: theirs.id }),
      call('DELETE', `/memberships/${randomUUID()}`),
      call('PATCH', `/credit-allocations/${randomUUID()}`, { amount: 1 }),
      call('POST', '/organizations', { code: 'x', name: 'X' }, randomUUID()),
    ];
    const responses = await Promise.all(cases);
    expect(responses.map((r) => r.statusCode)).toEqual(Array(cases.length).fill(404));
    const org = (
      await call('POST', '/organizations', { code: 'app-check', name: 'App check' })
    ).json();
    const unknownApp = await call('POST', '/credit-allocations', {
      entityId: org.id,
      targetApplication: 'nope',
      amount: 1,
    });
    expect(unknownApp.statusCode).toBe(404);
    expect(unknownApp.json()).toMatchObject({ field: 'targetApplication' });

    const after = await t.db
      .selectFrom('outbox')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    expect(after.n).toBe(before.n + 1); // only the app-check organization
    const stillTheirs = await t.db
      .selectFrom('entities')
      .selectAll()
      .where('id', '=', theirs.id)
      .executeTakeFirstOrThrow();
    expect(stillTheirs).toMatchObject({ name: 'Theirs', version: 1, is_active: true });
  });

  it('answers 409 for a duplicate organization code and 400 for bad bodies, writing nothing', async () => {
    await call('POST', '/organizations', { code: 'dup', name: 'One' });
    const before = await t.db
      .selectFrom('outbox')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    expect((await call('POST', '/organizations', { code: 'dup', name: 'Two' })).statusCode).toBe(
      409,
    );
    const bad = [
      { body: { name: 'no code' }, field: 'code' },
      { body: { code: 'c', name: 'n', extra: 1 }, field: 'extra' },
      { body: { code: 'c', name: 'x'.repeat(201) }, field: 'name' },
      { body: { code: 'c', name: 'n', parentId: 'not-a-uuid' }, field: 'parentId' },
    ];
    for (const { body, field } of bad) {
      const response = await call('POST', '/organizations', body);
      expect(response.statusCode).toBe(400);
      expect(response.json().field).toBe(field);
    }
    const after = await t.db
      .selectFrom('outbox')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    expect(after.n).toBe(before.n);
  });

  it('reports the outbox backlog', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/admin/outbox', headers: auth });
    expect(response.statusCode).toBe(200);
    const unpublished = await t.db
      .selectFrom('outbox')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('published_at', 'is', null)
      .executeTakeFirstOrThrow();
    expect(response.json().unpublished).toBe(unpublished.n);
    expect(response.json().oldestAgeMs).toBeGreaterThanOrEqual(0);
  });
});
