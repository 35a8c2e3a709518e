/**
 * One rendering of each event: the capture triggers (live) and the backfill's page query
 * (historical) both call the `hs_*_event` SQL functions. This pins that they write the same bytes
 * for the same row version, bar the delivery (run, application); and pins the TypeScript builders
 * of packages/domain (used by the benchmark's baseline) to that rendering, field for field.
 */
import { randomUUID } from 'node:crypto';
import { EVENT_FIELD, OrgAssignmentCreatedEvent, SyncEvent } from '@historical-sync/contracts';
import { seedTenant } from '@historical-sync/db';
import { createTestDatabase, type TestDatabase } from '@historical-sync/db/testing';
import {
  creditStateEvent,
  membershipCreatedEvent,
  organizationStateEvent,
} from '@historical-sync/domain';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { literal } from '../src/publish/page-bytes';
import { renderPageCommands } from '../src/publish/page-commands';
import { xaddPrefix } from '../src/redis/resp';
import { renderPage } from '../src/resources';

describe('events rendered by Postgres', () => {
  let test: TestDatabase;
  let tenantId: string;
  const context = { appCode: 'crm', runId: randomUUID() };
  const delivery = { targetApplication: 'crm', isHistoricalSync: true, runId: context.runId };

  beforeAll(async () => {
    test = await createTestDatabase('render');
    ({ tenantId } = await seedTenant(test.db, {
      tenantName: 'render',
      organizations: 6,
      memberships: 12,
      creditAllocations: 5,
      app: 'crm',
      seed: 3,
    }));
    const [parent, child] = await test.db
      .selectFrom('entities')
      .select('id')
      .where('tenant_id', '=', tenantId)
      .orderBy('id')
      .limit(2)
      .execute();
    // Nulls, a parent, an odd string, a deactivated organization, an updated version, an expiry.
    await test.db
      .updateTable('entities')
      .set({
        parent_id: parent?.id ?? null,
        description: null,
        website: 'https://x.example/"quoted"\\n',
        name: 'Ünïcode ✓',
      })
      .where('id', '=', child?.id ?? '')
      .execute();
    await test.db
      .updateTable('entities')
      .set({ is_active: false })
      .where('id', '=', parent?.id ?? '')
      .execute();
    const [credit] = await test.db
      .selectFrom('credit_allocations')
      .select('id')
      .where('tenant_id', '=', tenantId)
      .orderBy('id')
      .limit(1)
      .execute();
    await test.db
      .updateTable('credit_allocations')
      .set({ expires_at: null })
      .where('id', '=', credit?.id ?? '')
      .execute();
  });
  afterAll(async () => {
    await test.destroy();
  });

  // Exactly equal, timestamps included: both write milliseconds as toISOString() does.
  const normalized = (json: string) => JSON.parse(json);
  const render = (resource: 'credits' | 'organizations' | 'memberships') =>
    renderPage(
      test.db,
      resource,
      { tenantId, appCode: 'crm', sinceDate: null, after: '', limit: 100 },
      { tenantId, ...context },
    );

  it('match the builders for organizations', async () => {
    const rendered = await render('organizations');
    const rows = await test.db
      .selectFrom('entities')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .orderBy('id')
      .execute();
    expect(rendered.map((r) => normalized(r.event))).toEqual(
      rows.map((row) => organizationStateEvent('org.created', tenantId, row, delivery)),
    );
    expect(rendered.some((r) => JSON.parse(r.event).parentId)).toBe(true);
    for (const r of rendered) expect(SyncEvent.safeParse(JSON.parse(r.event)).success).toBe(true);
  });

  it('match the builders for memberships', async () => {
    const rendered = await render('memberships');
    const rows = await test.db
      .selectFrom('organization_memberships')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .orderBy('id')
      .execute();
    expect(rendered.map((r) => normalized(r.event))).toEqual(
      rows.map((row) => membershipCreatedEvent(tenantId, row, delivery)),
    );
    // Byte for byte, key order included: a consumer hashing or diffing raw entries sees no change.
    expect(rendered.map((r) => r.event)).toEqual(
      rows.map((row) => JSON.stringify(membershipCreatedEvent(tenantId, row, delivery))),
    );
    // The spec's organizationId, beside entityId (both the membership's organization).
    for (const [i, r] of rendered.entries()) {
      const event = OrgAssignmentCreatedEvent.parse(JSON.parse(r.event));
      expect(event.organizationId).toBe(rows[i]?.organization_id);
      expect(event.entityId).toBe(event.organizationId);
    }
  });

  it('match the builders for credit allocations', async () => {
    const rendered = await render('credits');
    const rows = await test.db
      .selectFrom('credit_allocations')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .orderBy('id')
      .execute();
    expect(rendered.map((r) => normalized(r.event))).toEqual(
      rows.map((row) => creditStateEvent('credit.allocated', tenantId, row, delivery)),
    );
    expect(rendered.some((r) => JSON.parse(r.event).expiresAt === null)).toBe(true);
    expect(rendered.some((r) => JSON.parse(r.event).expiresAt !== null)).toBe(true);
  });

  it('renders an infinite expiry as no expiry, and a row with a timestamp it cannot write as no event', async () => {
    const other = await seedTenant(test.db, {
      tenantName: 'render-infinity',
      organizations: 1,
      memberships: 4,
      creditAllocations: 2,
      app: 'crm',
      seed: 2,
    });
    const page = (resource: 'credits' | 'memberships') =>
      renderPage(
        test.db,
        resource,
        { tenantId: other.tenantId, appCode: 'crm', sinceDate: null, after: '', limit: 10 },
        { tenantId: other.tenantId, ...context },
      );
    const credits = await test.db
      .selectFrom('credit_allocations')
      .select('id')
      .where('tenant_id', '=', other.tenantId)
      .orderBy('id')
      .execute();
    await sql`UPDATE credit_allocations SET expires_at = 'infinity' WHERE id = ${credits[0]?.id}`.execute(
      test.db,
    );
    await sql`UPDATE credit_allocations SET expires_at = '-infinity' WHERE id = ${credits[1]?.id}`.execute(
      test.db,
    );
    const renderedCredits = await page('credits');
    expect(JSON.parse(renderedCredits[0]?.event ?? 'null')).toMatchObject({ expiresAt: null });
    expect(renderedCredits[1]?.event).toBeNull(); // already expired forever: not "no expiry"

    const memberships = await test.db
      .selectFrom('organization_memberships')
      .select('id')
      .where('tenant_id', '=', other.tenantId)
      .orderBy('id')
      .execute();
    const dates = [
      'infinity',
      '0044-03-15 00:00:00+00 BC',
      '10001-01-01 00:00:00+00',
      '0999-12-31 23:59:59.999+00',
    ];
    for (const [i, date] of dates.entries()) {
      await sql`UPDATE organization_memberships SET created_at = ${date}::timestamptz WHERE id = ${memberships[i]?.id}`.execute(
        test.db,
      );
    }
    const rendered = await page('memberships');
    // The processor fails the run on a NULL event, naming the row (resource-processor checkPage).
    expect(rendered.slice(0, 3).map((r) => r.event)).toEqual([null, null, null]);
    // Year 999 is within range and is written with four digits, as toISOString does.
    expect(JSON.parse(rendered[3]?.event ?? 'null').metadata.originalCreatedAt).toBe(
      new Date('0999-12-31T23:59:59.999Z').toISOString(),
    );
  });

  it('writes the same bytes from the capture trigger and from the backfill for the same row version', async () => {
    const { rows } = await sql<{ id: string }>`
      INSERT INTO tenants (name) VALUES ('render-capture') RETURNING id
    `.execute(test.db);
    const capturedTenant = rows[0]?.id as string;
    // Odd text on purpose: quotes, backslashes, control characters, newlines, non-BMP unicode.
    const odd = '"\\ \u0001\u001f\u007f\t\n\u2028 😀 ✓ </script>';
    await sql`
      INSERT INTO entities (tenant_id, entity_type, code, name, description, website)
      SELECT ${capturedTenant}, 'organization', 'cap-' || i,
             'Org "' || i || ${odd}, CASE WHEN i % 2 = 0 THEN ${'line\r\nbreak'} END,
             CASE WHEN i % 3 = 0 THEN 'https://x.example/?a=1&b=</script>' END
      FROM generate_series(1, 6) i
    `.execute(test.db);
    await sql`
      UPDATE entities SET parent_id = (SELECT min(id::text)::uuid FROM entities WHERE tenant_id = ${capturedTenant})
      WHERE tenant_id = ${capturedTenant} AND code IN ('cap-2', 'cap-3')
    `.execute(test.db);
    await sql`
      INSERT INTO organization_memberships (tenant_id, user_id, organization_id, role)
      SELECT tenant_id, gen_random_uuid(), id, E'r\u00f4le "' || code || '"'
      FROM entities WHERE tenant_id = ${capturedTenant}
    `.execute(test.db);
    await sql`
      INSERT INTO credit_allocations
        (tenant_id, entity_id, target_application, allocated_amount, available_credits, expires_at)
      SELECT tenant_id, id, 'crm', 100, 40,
             CASE WHEN code = 'cap-1' THEN NULL ELSE '2031-02-03T04:05:06.789Z'::timestamptz END
      FROM entities WHERE tenant_id = ${capturedTenant}
    `.execute(test.db);
    await sql`UPDATE credit_allocations SET available_credits = 10 WHERE tenant_id = ${capturedTenant}`.execute(
      test.db,
    );

    const historicalOf = (live: string) =>
      live
        .replace('"runId":null', `"runId":"${context.runId}"`)
        .replace('"targetApplication":null', '"targetApplication":"crm"')
        .replace('"isHistoricalSync":false', '"isHistoricalSync":true')
        .replace(/"eventType":"(org|credit)\.updated"/, (_, kind) =>
          kind === 'org' ? '"eventType":"org.created"' : '"eventType":"credit.allocated"',
        );
    for (const resource of ['organizations', 'memberships', 'credits'] as const) {
      const page = await renderPage(
        test.db,
        resource,
        { tenantId: capturedTenant, appCode: 'crm', sinceDate: null, after: '', limit: 100 },
        { tenantId: capturedTenant, ...context },
      );
      expect(page).toHaveLength(6);
      const captured = await sql<{ aggregate_id: string; event: string }>`
        SELECT DISTINCT ON (aggregate_id) aggregate_id, event FROM outbox
        WHERE tenant_id = ${capturedTenant} AND aggregate = ${
          { organizations: 'organization', memberships: 'membership', credits: 'credit' }[resource]
        }
        ORDER BY aggregate_id, version DESC
      `.execute(test.db);
      const live = new Map(captured.rows.map((r) => [r.aggregate_id, r.event]));
      for (const row of page) {
        expect(historicalOf(live.get(row.id) ?? 'missing')).toBe(row.event);
        expect(SyncEvent.safeParse(JSON.parse(row.event)).success).toBe(true);
      }
    }
  });

  it("renders a page as its XADD commands from the rows' bytes: the same events, in id order, framed by their bytes", async () => {
    const { tenantId: oddTenant } = await seedTenant(test.db, {
      tenantName: 'render-commands',
      organizations: 30,
      memberships: 40,
      creditAllocations: 20,
      app: 'crm',
      seed: 3,
    });
    // Multi-byte and control characters: a length in characters instead of bytes would break the
    // framing, and with it every command after.
    await sql`
      UPDATE entities SET name = name || ${' "é" 😀 \\ \r\n\t'}
      WHERE tenant_id = ${oddTenant}
    `.execute(test.db);
    const stream = 'crm:sync:test';
    const prefix = xaddPrefix(stream, EVENT_FIELD);
    for (const resource of ['organizations', 'memberships', 'credits'] as const) {
      let after = '';
      for (let pages = 0; ; pages += 1) {
        const request = { tenantId: oddTenant, appCode: 'crm', sinceDate: null, after, limit: 7 };
        const eventContext = { tenantId: oddTenant, ...context };
        const rows = await renderPage(test.db, resource, request, eventContext);
        const page = await renderPageCommands(test.db, resource, request, eventContext, prefix);
        if (!rows.length) {
          expect(page).toBeNull();
          expect(pages).toBeGreaterThan(1);
          break;
        }
        expect(page).toMatchObject({
          rows: rows.length,
          firstId: rows[0]?.id,
          lastId: rows[rows.length - 1]?.id,
          firstEvent: rows[0]?.event,
          unrenderedId: null,
        });
        // Byte for byte each event as a string framed by its UTF-8 length, written out here
        // rather than by the code under test.
        expect(page?.commands.toString('utf8')).toBe(
          rows
            .map(
              (r) =>
                `*5\r\n$4\r\nXADD\r\n$${stream.length}\r\n${stream}\r\n$1\r\n*\r\n$5\r\nevent\r\n` +
                `$${Buffer.byteLength(r.event)}\r\n${r.event}\r\n`,
            )
            .join(''),
        );
        expect(page?.checked).toEqual(
          resource === 'organizations'
            ? rows.map((r) => ({ id: r.id, code: r.code, name: r.name }))
            : [],
        );
        after = page?.lastId ?? '';
      }
    }
    // A row Postgres cannot render is named, and its event is left out of the commands.
    const membership = await test.db
      .selectFrom('organization_memberships')
      .select('id')
      .where('tenant_id', '=', oddTenant)
      .orderBy('id')
      .offset(2)
      .limit(1)
      .executeTakeFirstOrThrow();
    await sql`UPDATE organization_memberships SET created_at = 'infinity' WHERE id = ${membership.id}`.execute(
      test.db,
    );
    const page = await renderPageCommands(
      test.db,
      'memberships',
      { tenantId: oddTenant, appCode: 'crm', sinceDate: null, after: '', limit: 5 },
      { tenantId: oddTenant, ...context },
      prefix,
    );
    expect(page?.unrenderedId).toBe(membership.id);
    expect(page?.commands.toString('utf8').split('XADD')).toHaveLength(5);
    expect(page?.rows).toBe(5);
  });

  it("writes a COPY query's values as literals Postgres reads back unchanged, whatever they hold", async () => {
    const hostile = [
      "crm'; DROP TABLE tenants; --",
      "\\'; SELECT 1; --",
      'back\\slash \\\\ and \\x41 \\n',
      "E'nested' $1 $$ dollar",
      'é 😀 \r\n\t',
    ];
    for (const value of hostile) {
      const { rows } = await sql<{ v: string }>`SELECT ${sql.raw(literal(value))} AS v`.execute(
        test.db,
      );
      expect(rows[0]?.v).toBe(value);
    }
    expect(() => literal('nul\u0000byte')).toThrow();
    expect(() => literal({})).toThrow();
    expect(literal(1000)).toBe('1000');
  });
});
