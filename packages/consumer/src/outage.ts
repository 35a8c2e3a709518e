/**
 * Telling an outage (a dependency unreachable) from a bad entry, and waiting one out. An entry
 * that fails because the application's database or Redis is down is not a poison message: it is
 * retried in place once the dependency is back, without using a delivery attempt, so only entries
 * that fail on their own reach the dead-letter stream.
 */

/** Throw this (or wrap a cause in it) from a handler to say "a dependency is down, not my entry". */
export class InfrastructureError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'InfrastructureError';
  }
}

/** Node socket errors, and pg SQLSTATEs of a server shutting down, starting up or out of slots. */
const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  '57P01', // admin_shutdown (a fast shutdown ends every session)
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now (starting up or shutting down)
  '53300', // too_many_connections
]);

/**
 * node-postgres reports a lost connection by message only; ioredis likewise for a closed
 * connection, a command that ran out of reconnect retries, or a full offline queue.
 */
const CONNECTION_MESSAGES =
  /Connection terminated|not queryable|timeout exceeded when trying to connect|Client has encountered a connection error|Connection is closed|Reached the max retries per request limit|Stream isn't writeable|enableOfflineQueue options is false|connect ECONNREFUSED|Command timed out/;

/**
 * The default classification: true for pg, ioredis and node connection failures and timeouts
 * (also when they are the `cause` of what the handler threw), and for `InfrastructureError`.
 */
export function isInfrastructureError(error: unknown, depth = 0): boolean {
  if (!(error instanceof Error) || depth > 5) return false;
  if (error instanceof InfrastructureError) return true;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && (CONNECTION_CODES.has(code) || code.startsWith('08'))) {
    return true;
  }
  if (error.name === 'MaxRetriesPerRequestError') return true;
  if (CONNECTION_MESSAGES.test(error.message)) return true;
  // AggregateError (node's happy-eyeballs connect) carries the socket errors inside.
  const inner = (error as { errors?: unknown }).errors;
  if (Array.isArray(inner) && inner.some((e) => isInfrastructureError(e, depth + 1))) return true;
  return isInfrastructureError((error as { cause?: unknown }).cause, depth + 1);
}

export interface OutageOptions {
  /** First wait after a failure; doubled each time the dependency is still down. */
  initialDelayMs: number;
  /** The bound on the wait between two tries. */
  maxDelayMs: number;
  /**
   * How long calls must go through before the outage counts as over: a server coming back
   * fails a few more calls (connections it ended, still starting up), which are the same outage.
   */
  settleMs?: number;
  onStart?(error: unknown): void;
  onEnd?(outage: { durationMs: number; error: unknown }): void;
}

/**
 * One outage at a time for a whole consumer: every handler (and Redis call) that meets an
 * infrastructure failure waits on the same bounded exponential backoff, so N entries in flight
 * make one "outage started" and one "recovered" report, not N lines per try.
 */
export class OutageBackoff {
  private current:
    | {
        since: number;
        error: unknown;
        attempt: number;
        tick: { wait: Promise<void>; fired: boolean };
        /** Set from the first call that went through until the outage is settled as over. */
        ending?: { at: number; timer: NodeJS.Timeout };
      }
    | undefined;
  private readonly timers = new Set<{ timer: NodeJS.Timeout; resolve: () => void }>();

  constructor(private readonly options: OutageOptions) {}

  get active(): boolean {
    return this.current !== undefined;
  }

  /** Records a failure and waits until it is time to try again (a shared, growing delay). */
  async failed(error: unknown): Promise<void> {
    if (!this.current) {
      this.current = { since: Date.now(), error, attempt: 0, tick: this.delay(0) };
      this.options.onStart?.(error);
    } else if (this.current.ending) {
      // It came back only for a moment: the same outage goes on, tried again soon.
      clearTimeout(this.current.ending.timer);
      this.current.ending = undefined;
      this.current.attempt = 0;
      this.current.tick = this.delay(0);
    } else if (this.current.tick.fired) {
      // The previous try came round and still failed: the next one waits longer.
      this.current.attempt += 1;
      this.current.tick = this.delay(this.current.attempt);
    }
    const tick = this.current.tick;
    await tick.wait;
    tick.fired = true;
  }

  /** A call went through: the outage, if there was one, is over once calls keep going through. */
  succeeded(): void {
    const outage = this.current;
    if (!outage || outage.ending) return;
    const at = Date.now();
    const timer = setTimeout(() => this.end(), this.options.settleMs ?? 1_000);
    timer.unref();
    outage.ending = { at, timer };
  }

  private end(): void {
    const outage = this.current;
    if (!outage?.ending) return;
    clearTimeout(outage.ending.timer);
    this.current = undefined;
    this.options.onEnd?.({ durationMs: outage.ending.at - outage.since, error: outage.error });
  }

  /** Ends every wait at once (the consumer is stopping); an outage that was ending is reported. */
  release(): void {
    this.end();
    for (const entry of this.timers) {
      clearTimeout(entry.timer);
      entry.resolve();
    }
    this.timers.clear();
  }

  private delay(attempt: number): { wait: Promise<void>; fired: boolean } {
    const { initialDelayMs, maxDelayMs } = this.options;
    const base = Math.min(maxDelayMs, initialDelayMs * 2 ** Math.min(attempt, 30));
    // Up to 20% jitter, so several consumer processes do not hammer a recovering server together.
    const ms = Math.min(maxDelayMs, Math.round(base * (0.8 + Math.random() * 0.2)));
    const wait = new Promise<void>((resolve) => {
      const entry = {
        timer: setTimeout(() => {
          this.timers.delete(entry);
          resolve();
        }, ms),
        resolve: () => resolve(),
      };
      this.timers.add(entry);
    });
    return { wait, fired: false };
  }
}
