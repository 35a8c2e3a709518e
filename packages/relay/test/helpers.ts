import { randomBytes } from 'node:crypto';
import { EVENT_FIELD, SyncEvent } from '@historical-sync/contracts';
import type { Db } from '@historical-sync/db';
import { createOrganization } from '@historical-sync/domain';
import type { Redis } from 'ioredis';
import { sql } from 'kysely';

export const uniquePrefix = () => `t${randomBytes(4).toString('hex')}:`;

export async function createTenant(db: Db, name: string): Promise<string> {
  const tenant = await db
    .insertInto('tenants')
    .values({ name })
    .returning('id')
    .executeTakeFirstOrThrow();
  return tenant.id;
}

/** Sets an application's enabled flag directly (the toggle route is the API's business). */
export async function setEnabled(db: Db, tenantId: string, appCode: string, enabled: boolean) {
  await sql`
    INSERT INTO organization_applications (tenant_id, application_id, is_enabled, enabled_at)
    SELECT ${tenantId}, id, ${enabled}, now() FROM applications WHERE code = ${appCode}
    ON CONFLICT (tenant_id, application_id) DO UPDATE SET is_enabled = excluded.is_enabled
  `.execute(db);
}

export async function readEvents(redis: Redis, stream: string): Promise<SyncEvent[]> {
  const entries = await redis.xrange(stream, '-', '+');
  return entries.map(([, fields]) =>
    SyncEvent.parse(JSON.parse(fields[fields.indexOf(EVENT_FIELD) + 1] as string)),
  );
}

export async function createOrganizations(db: Db, tenantId: string, count: number, label = 'org') {
  const orgs = [];
  for (let i = 0; i < count; i++) {
    orgs.push(
      await createOrganization(db, tenantId, { code: `${label}-${i}`, name: `${label} ${i}` }),
    );
  }
  return orgs;
}

export async function unpublishedCount(db: Db): Promise<number> {
  const row = await db
    .selectFrom('outbox')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('published_at', 'is', null)
    .executeTakeFirstOrThrow();
  return row.n;
}
