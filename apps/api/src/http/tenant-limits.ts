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

/**
 * The rate cap a run gets: the one the request chose, else the operator's default
 * (BACKFILL_MAX_EVENTS_PER_SECOND, unlimited when unset). A tenant key's run never goes past
 * TENANT_MAX_EVENTS_PER_SECOND, also when the request leaves the field out.
 */
export function runRateFor(
  principal: Principal | null,
  chosen: number | null | undefined,
  defaultRate: number | null,
  quotas: Pick<TenantQuotas, 'maxEventsPerSecond'>,
): number | null {
  const rate = chosen ?? defaultRate;
  if (principal?.kind !== 'tenant') return rate;
  return rate === null ? quotas.maxEventsPerSecond : Math.min(rate, quotas.maxEventsPerSecond);
}

/** The run quotas bind tenant keys; admin keys are the operator's and are not counted against. */
export const runQuotasFor = (principal: Principal | null, quotas: TenantQuotas) =>
  principal?.kind === 'tenant' ? quotas : undefined;
