/** The CLI's way to the admin API: the shared typed client, its failures as one error type. */
import { type Client, createClient as createApiClient } from '@historical-sync/client';
import type { ApiError } from '@historical-sync/contracts';

/** Anything that stops a command: printed as one line, exit code 1. */
export class CliError extends Error {
  /** For `--json`: the API's error body, printed as is. */
  readonly body: unknown;

  constructor(message: string, body?: unknown) {
    super(message);
    this.body = body;
  }
}

/**
 * Most often nothing runs at the default address, or the API runs on another port (`npm start`
 * takes the first free one from 3000 and prints the `export HSYNC_API_URL=…` line to use; hsync
 * finds an npm start of its own checkout by itself).
 */
const UNREACHABLE_HINT =
  ' (is the API running? start it with `npm start`, or point hsync at it with --api URL or HSYNC_API_URL)';

/** The typed client of the API (`@historical-sync/client`), with this CLI's errors. */
export type ApiClient = Client;

export interface ClientOptions {
  baseUrl: string;
  apiKey: string;
  /** A request that takes longer is abandoned, so a hung API never hangs a script. */
  timeoutMs?: number;
}

export function createClient(options: ClientOptions): ApiClient {
  const base = options.baseUrl.replace(/\/+$/, '');
  return createApiClient({
    baseUrl: base,
    apiKey: options.apiKey,
    timeoutMs: options.timeoutMs ?? 30_000,
    errors: {
      unreachable: (error) =>
        new CliError(`cannot reach the API at ${base}: ${reason(error)}${UNREACHABLE_HINT}`),
      // A proxy or something else than the API answered.
      notJson: (request, response) =>
        new CliError(
          `${request.method} ${request.url} answered ${response.status} with a body that is not JSON`,
        ),
      refused: (response, body) => new CliError(describeApiError(response.status, body), body),
    },
  });
}

/** `API 404 not_found: tenant … not found (field orgId)`: the API's own words, status first. */
export function describeApiError(status: number, body: unknown): string {
  const error = isErrorBody(body) ? body : undefined;
  const field = error?.field ? ` (field ${error.field})` : '';
  return `API ${status}${error ? ` ${error.error}: ${error.message}${field}` : ''}`;
}

function isErrorBody(body: unknown): body is ApiError {
  return typeof body === 'object' && body !== null && 'message' in body && 'error' in body;
}

/** fetch() hides the useful part (ECONNREFUSED, ENOTFOUND, timeout) in `cause`. */
function reason(error: unknown): string {
  if (error instanceof Error && error.name === 'TimeoutError') return 'timed out';
  const cause = error instanceof Error ? error.cause : undefined;
  if (cause && typeof cause === 'object') {
    if ('code' in cause && typeof cause.code === 'string') return cause.code;
    if (cause instanceof Error) return cause.message;
  }
  return error instanceof Error ? error.message : String(error);
}
