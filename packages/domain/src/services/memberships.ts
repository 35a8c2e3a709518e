/**
 * The membership (assignment) service: add and remove users in organizations. Their events are
 * written by the database's capture triggers in the same transaction (docs/CAPTURE.md).
 */
import type { Db, OrganizationMembership } from '@historical-sync/db';
import { ConflictError, NotFoundError } from '../errors';
import { lockOrganization } from './organizations';
import { isPgError, UNIQUE_VIOLATION } from './pg-errors';

export interface MembershipInput {
  userId: string;
  organizationId: string;
  role: string;
}

export async function addMembership(
  db: Db,
  tenantId: string,
  input: MembershipInput,
): Promise<OrganizationMembership> {
  return db.transaction().execute(async (trx) => {
    await lockOrganization(trx, tenantId, input.organizationId);
    let membership: OrganizationMembership;
    try {
      membership = await trx
        .insertInto('organization_memberships')
        .values({
          tenant_id: tenantId,
          user_id: input.userId,
          organization_id: input.organizationId,
          role: input.role,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
    } catch (error) {
      if (isPgError(error, UNIQUE_VIOLATION)) {
        throw new ConflictError(
          `user ${input.userId} is already a member of ${input.organizationId}`,
        );
      }
      throw error;
    }
    return membership;
  });
}

export async function removeMembership(
  db: Db,
  tenantId: string,
  id: string,
): Promise<OrganizationMembership> {
  return db.transaction().execute(async (trx) => {
    const current = await trx
      .selectFrom('organization_memberships')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .forUpdate()
      .executeTakeFirst();
    if (!current) throw new NotFoundError(`membership ${id} not found`, 'membershipId');
    if (!current.is_active) throw new ConflictError(`membership ${id} is already removed`);
    return trx
      .updateTable('organization_memberships')
      .set({ is_active: false })
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirstOrThrow();
  });
}
