/**
 * What a tenant key may choose for a run: `pageSize`, `maxEventsPerSecond` and `partitions` up to
 * the tenant limits (admin keys up to the schema's hard limits). A value past its limit is a 400
 * naming the field, the limit and its setting: the request is wrong for this key, and the same
 * request with a smaller value succeeds at once.
 */
import type { TenantQuotas } from '@historical-sync/backfill';
import type { Principal } from '../auth/api-keys';
import { BadRequestError } from './validation';

const LIMITS = [
  { field: 'pageSize', quota: 'maxPageSize', setting: 'TENANT_MAX_PAGE_SIZE' },
  {
    field: 'maxEventsPerSecond',
    quota: 'maxEventsPerSecond',
    setting: 'TENANT_MAX_EVENTS_PER_SECOND',
  },
  { field: 'partitions', quota: 'maxPartitions', setting: 'TENANT_MAX_PARTITIONS' },
] as const;

export function checkTenantChoices(
  principal: Principal | null,
  body: { pageSize?: number; maxEventsPerSecond?: number; partitions?: number },
  quotas: TenantQuotas,
): void {
  if (principal?.kind !== 'tenant') return;
  for (const { field, quota, setting } of LIMITS) {
    const value = body[field];
    if (value !== undefined && value > quotas[quota]) {
      throw new BadRequestError(
        `body.${field}: at most ${quotas[quota]} with a tenant key (${setting})`,
        field,
      );
    }
  }
}

/** The run quotas bind tenant keys; admin keys are the operator's and are not counted against. */
export const runQuotasFor = (principal: Principal | null, quotas: TenantQuotas) =>
  principal?.kind === 'tenant' ? quotas : undefined;
