import type { Application, Db, Tenant } from '@historical-sync/db';
import { UnknownEntityError } from '@historical-sync/domain';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const isUuid = (value: string) => UUID.test(value);

export const tenantNotFound = (tenantId: string) => new UnknownEntityError('tenant', tenantId);
export const applicationNotFound = (idOrCode: string) =>
  new UnknownEntityError('application', idOrCode);
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
  if (!application) throw applicationNotFound(idOrCode);
  return application;
}
