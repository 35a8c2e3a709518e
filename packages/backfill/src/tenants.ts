import type { Application, Db, Tenant } from '@historical-sync/db';
import { NotFoundError } from '@historical-sync/domain';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const isUuid = (value: string) => UUID.test(value);

export const tenantNotFound = (tenantId: string) =>
  new NotFoundError(`tenant ${tenantId} not found`, 'orgId');
export const applicationNotFound = (idOrCode: string, field = 'appId') =>
  new NotFoundError(`application ${idOrCode} not found`, field);

export async function getTenant(db: Db, tenantId: string): Promise<Tenant> {
  const tenant = await db
    .selectFrom('tenants')
    .selectAll()
    .where('id', '=', tenantId)
    .executeTakeFirst();
  if (!tenant) throw tenantNotFound(tenantId);
  return tenant;
}

/** Finds an application by id or by code (`:appId` accepts either). */
export async function getApplication(
  db: Db,
  idOrCode: string,
  field = 'appId',
): Promise<Application> {
  const application = await db
    .selectFrom('applications')
    .selectAll()
    .where(isUuid(idOrCode) ? 'id' : 'code', '=', idOrCode)
    .executeTakeFirst();
  if (!application) throw applicationNotFound(idOrCode, field);
  return application;
}
