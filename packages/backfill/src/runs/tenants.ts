import type { Application, Db, Tenant } from '@historical-sync/db';
import { UnknownEntityError } from '@historical-sync/domain';
import { sql } from 'kysely';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const isUuid = (value: string) => UUID.test(value);

export const tenantNotFound = (tenantId: string) => new UnknownEntityError('tenant', tenantId);
/**
 * An application id or code that names none. Codes are case-sensitive: a code that matches one in
 * another case gets it named ("did you mean crm?").
 */
export async function applicationNotFound(db: Db, idOrCode: string): Promise<UnknownEntityError> {
  const near = isUuid(idOrCode)
    ? undefined
    : await db
        .selectFrom('applications')
        .select('code')
        .where(sql`lower(code)`, '=', idOrCode.toLowerCase())
        .executeTakeFirst();
  return new UnknownEntityError(
    'application',
    idOrCode,
    near ? `did you mean ${near.code}? (application codes are case-sensitive)` : undefined,
  );
}
export const runNotFound = (runId: string) => new UnknownEntityError('run', runId);

export async function getTenant(db: Db, tenantId: string): Promise<Tenant> {
  const tenant = await db
    .selectFrom('tenants')
    .selectAll()
    .where('id', '=', tenantId)
    .executeTakeFirst();
  if (!tenant) throw tenantNotFound(tenantId);
  return tenant;
}

/** Finds an application by id or by code. */
export async function getApplication(db: Db, idOrCode: string): Promise<Application> {
  const application = await db
    .selectFrom('applications')
    .selectAll()
    .where(isUuid(idOrCode) ? 'id' : 'code', '=', idOrCode)
    .executeTakeFirst();
  if (!application) throw await applicationNotFound(db, idOrCode);
  return application;
}
