/**
 * The credit service: allocate, update and deactivate (or expire) credit allocations. Their
 * events are written by the database's capture triggers in the same transaction (docs/CAPTURE.md).
 */
import type { CreditAllocation, Db } from '@historical-sync/db';
import { sql } from 'kysely';
import { ConflictError, NotFoundError, SyncError } from '../errors';
import { lockOrganization } from './organizations';

export interface AllocationInput {
  /** The organization receiving the credits. */
  entityId: string;
  targetApplication: string;
  amount: number;
  /** Defaults to the whole amount. */
  availableCredits?: number;
  expiresAt?: Date | null;
}

export interface AllocationPatch {
  amount?: number;
  availableCredits?: number;
  expiresAt?: Date | null;
}

function checkAvailable(amount: number, available: number) {
  if (available > amount) {
    throw new SyncError(
      400,
      'bad_request',
      `availableCredits (${available}) exceeds amount (${amount})`,
      'availableCredits',
    );
  }
}

async function lockAllocation(trx: Db, tenantId: string, id: string): Promise<CreditAllocation> {
  const allocation = await trx
    .selectFrom('credit_allocations')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('id', '=', id)
    .forUpdate()
    .executeTakeFirst();
  if (!allocation) throw new NotFoundError(`credit allocation ${id} not found`, 'allocationId');
  if (!allocation.is_active) throw new ConflictError(`credit allocation ${id} is not active`);
  return allocation;
}

export async function allocateCredits(
  db: Db,
  tenantId: string,
  input: AllocationInput,
): Promise<CreditAllocation> {
  const available = input.availableCredits ?? input.amount;
  checkAvailable(input.amount, available);
  return db.transaction().execute(async (trx) => {
    await lockOrganization(trx, tenantId, input.entityId, 'entityId');
    const app = await trx
      .selectFrom('applications')
      .select('code')
      .where('code', '=', input.targetApplication)
      .executeTakeFirst();
    if (!app) {
      throw new NotFoundError(
        `application ${input.targetApplication} not found`,
        'targetApplication',
      );
    }
    return trx
      .insertInto('credit_allocations')
      .values({
        tenant_id: tenantId,
        entity_id: input.entityId,
        target_application: input.targetApplication,
        allocated_amount: input.amount,
        available_credits: available,
        expires_at: input.expiresAt ?? null,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
  });
}

export async function updateAllocation(
  db: Db,
  tenantId: string,
  id: string,
  patch: AllocationPatch,
): Promise<CreditAllocation> {
  return db.transaction().execute(async (trx) => {
    const current = await lockAllocation(trx, tenantId, id);
    checkAvailable(
      patch.amount ?? current.allocated_amount,
      patch.availableCredits ?? current.available_credits,
    );
    return trx
      .updateTable('credit_allocations')
      .set({
        ...(patch.amount !== undefined ? { allocated_amount: patch.amount } : {}),
        ...(patch.availableCredits !== undefined
          ? { available_credits: patch.availableCredits }
          : {}),
        ...(patch.expiresAt !== undefined ? { expires_at: patch.expiresAt } : {}),
      })
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirstOrThrow();
  });
}

export async function deactivateAllocation(
  db: Db,
  tenantId: string,
  id: string,
  reason: 'deactivated' | 'expired',
): Promise<CreditAllocation> {
  return db.transaction().execute(async (trx) => {
    await lockAllocation(trx, tenantId, id);
    // The capture trigger puts the reason in the credit.deactivated event; local to this
    // transaction, so it never leaks into the pooled connection's next use.
    await sql`SELECT set_config('historical_sync.deactivation_reason', ${reason}, true)`.execute(
      trx,
    );
    return trx
      .updateTable('credit_allocations')
      .set({ is_active: false })
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirstOrThrow();
  });
}
