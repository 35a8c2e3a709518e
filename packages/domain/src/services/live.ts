import type { Delivery } from '../events';

/**
 * Live events are built once at write time; the relay sets `targetApplication` per enabled
 * application when it publishes (credit events keep their allocation's own application).
 */
export const LIVE: Delivery = {
  targetApplication: 'pending',
  isHistoricalSync: false,
  runId: null,
};

/** Postgres error codes the services turn into 409s. */
export const UNIQUE_VIOLATION = '23505';

export function isPgError(error: unknown, code: string): boolean {
  return typeof error === 'object' && error !== null && 'code' in error && error.code === code;
}
