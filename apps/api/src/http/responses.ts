/**
 * The error statuses a route can answer, each with the one error body (`ApiError`) and what it
 * means, for the routes' `schema.response`: spread the groups that apply to the route.
 */
import { ApiError } from '@historical-sync/contracts';

const ERROR_MEANINGS = {
  400: 'invalid input (or malformed JSON); `field` names the field at fault',
  401: 'missing, invalid or revoked API key',
  403: 'a tenant key on an admin-only route, or Basic credentials sent from another site',
  404: "unknown tenant, application or row (another tenant's, for a tenant-scoped key)",
  409: "conflict with the current state, or a tenant key's active-runs quota (TENANT_MAX_ACTIVE_RUNS)",
  413: 'body larger than BODY_LIMIT_BYTES',
  415: 'body not sent as application/json',
  429: "over the key's rate limit, the address's failed-authentication limit, a tenant key's runs-per-hour quota, or its tenant's dry runs at once (DRY_RUNS_PER_TENANT, DRY_RUNS_MAX); see retry-after",
  500: 'internal error: details are in the log, never in the answer',
  503: 'Redis unreachable: the run barrier could not be raised, and nothing changed',
} as const;
export type ErrorStatus = keyof typeof ERROR_MEANINGS;

/** `{ [status]: ApiError described }` for each status given. */
export function errorResponses<S extends ErrorStatus>(...statuses: readonly S[]) {
  return Object.fromEntries(
    statuses.map((status) => [status, ApiError.describe(ERROR_MEANINGS[status])]),
  ) as Record<S, typeof ApiError>;
}

/** Any route: a failure of ours. */
export const ANY_ROUTE = [500] as const satisfies ErrorStatus[];
/** Behind an API key (its scope, rate limit and failed-authentication limit). */
export const KEYED = [401, 403, 429, 500] as const satisfies ErrorStatus[];
/** A GET that reads path parameters: refused input. */
export const WITH_PARAMS = [400] as const satisfies ErrorStatus[];
/**
 * POST, PATCH, PUT and DELETE: Fastify reads a body sent to them whether or not the route takes
 * one, so besides refused input there are its size and type.
 */
export const WITH_BODY = [400, 413, 415] as const satisfies ErrorStatus[];
