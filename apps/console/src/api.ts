/**
 * The console's one way to the API: every request carries the signed-in key as a Bearer token.
 * No cookies: `credentials: 'omit'`, so nothing ambient ever authenticates a request.
 */
import { type Client, createClient } from '@historical-sync/client';

/** An error answer of the API: its status, its message and the field at fault. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

/** The typed client of the API (`@historical-sync/client`): `api.call('getRun', { params })`. */
export type Api = Client;

export function createApi(key: string): Api {
  return createClient({
    // The page's own origin: the API serves the console.
    baseUrl: '',
    apiKey: key,
    credentials: 'omit',
    errors: {
      refused: (response, body) => {
        const error = (body ?? {}) as { message?: string; field?: string };
        return new ApiError(
          response.status,
          error.message ?? `${response.status} ${response.statusText}`,
          error.field,
        );
      },
    },
  });
}
