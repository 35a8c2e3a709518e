/**
 * Telling "Postgres could not be reached" (restart, failover, network) from a failed query: the
 * first is worth waiting out, the second is not.
 */

/** Socket errors, and the SQLSTATEs of a server shutting down, starting up or cut off (class 08). */
const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  '57P01', // admin_shutdown (a fast shutdown ends every session)
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now (starting up or shutting down)
]);

export function isConnectionError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && (CONNECTION_CODES.has(code) || code.startsWith('08'))) {
    return true;
  }
  // node-postgres reports a connection lost mid-query or mid-transaction by message only.
  return /Connection terminated|not queryable|timeout exceeded when trying to connect/.test(
    error.message,
  );
}
