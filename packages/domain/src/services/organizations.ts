/**
 * The organization service: create, update and delete (deactivate) organizations. Their events
 * are written by the database's capture triggers in the same transaction (docs/CAPTURE.md).
 */
import type { Db, Entity } from '@historical-sync/db';
import { ConflictError, NotFoundError } from '../errors';
import { isPgError, UNIQUE_VIOLATION } from './pg-errors';

export interface OrganizationInput {
  code: string;
  name: string;
  description?: string | null;
  industry?: string | null;
  website?: string | null;
  parentId?: string | null;
}

export type OrganizationPatch = Partial<OrganizationInput>;

/** An active organization of the tenant, locked for the rest of the transaction. */
export async function lockOrganization(
  trx: Db,
  tenantId: string,
  id: string,
  field = 'organizationId',
): Promise<Entity> {
  const org = await trx
    .selectFrom('entities')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('id', '=', id)
    .where('entity_type', '=', 'organization')
    .forUpdate()
    .executeTakeFirst();
  // Another tenant's organization is as unknown as a missing one.
  if (!org) throw new NotFoundError(`organization ${id} not found`, field);
  if (!org.is_active) throw new ConflictError(`organization ${id} is deleted`);
  return org;
}

export async function createOrganization(
  db: Db,
  tenantId: string,
  input: OrganizationInput,
): Promise<Entity> {
  return db.transaction().execute(async (trx) => {
    if (input.parentId) await lockOrganization(trx, tenantId, input.parentId, 'parentId');
    let org: Entity;
    try {
      org = await trx
        .insertInto('entities')
        .values({
          tenant_id: tenantId,
          entity_type: 'organization',
          code: input.code,
          name: input.name,
          description: input.description ?? null,
          industry: input.industry ?? null,
          website: input.website ?? null,
          parent_id: input.parentId ?? null,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
    } catch (error) {
      if (isPgError(error, UNIQUE_VIOLATION)) {
        throw new ConflictError(`an entity with code "${input.code}" already exists`);
      }
      throw error;
    }
    return org;
  });
}

export async function updateOrganization(
  db: Db,
  tenantId: string,
  id: string,
  patch: OrganizationPatch,
): Promise<Entity> {
  return db.transaction().execute(async (trx) => {
    await lockOrganization(trx, tenantId, id);
    if (patch.parentId) {
      if (patch.parentId === id)
        throw new ConflictError('an organization cannot be its own parent');
      await lockOrganization(trx, tenantId, patch.parentId, 'parentId');
    }
    let org: Entity;
    try {
      org = await trx
        .updateTable('entities')
        .set({
          ...(patch.code !== undefined ? { code: patch.code } : {}),
          ...(patch.name !== undefined ? { name: patch.name } : {}),
          ...(patch.description !== undefined ? { description: patch.description } : {}),
          ...(patch.industry !== undefined ? { industry: patch.industry } : {}),
          ...(patch.website !== undefined ? { website: patch.website } : {}),
          ...(patch.parentId !== undefined ? { parent_id: patch.parentId } : {}),
        })
        .where('id', '=', id)
        .returningAll()
        .executeTakeFirstOrThrow();
    } catch (error) {
      if (isPgError(error, UNIQUE_VIOLATION)) {
        throw new ConflictError(`an entity with code "${patch.code}" already exists`);
      }
      throw error;
    }
    return org;
  });
}

/** Deletes an organization by deactivating it: the row stays for history and for versions. */
export async function deleteOrganization(db: Db, tenantId: string, id: string): Promise<Entity> {
  return db.transaction().execute(async (trx) => {
    await lockOrganization(trx, tenantId, id);
    return trx
      .updateTable('entities')
      .set({ is_active: false })
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirstOrThrow();
  });
}
