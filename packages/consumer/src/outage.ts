/**
 * Telling a store that is away or busy from a bad entry, and waiting an outage out. An entry that
 * fails because the application's database or Redis is down, read-only, out of resources, or lost
 * a race with a concurrent transaction is not a poison message: it is tried again without using
 * a delivery attempt, so only entries that fail on their own reach the dead-letter stream.
 */

/** Throw this (or wrap a cause in it) from a handler to say "a dependency is down, not my entry". */
export class InfrastructureError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'InfrastructureError';
  }
}

/**
 * What a failure means for the entry that met it:
 * - `outage`: the store is away (unreachable, read-only, out of resources). The consumer stops
 *   taking entries and tries the ones in hand again on a shared backoff until the store is back.
 * - `retry`: this try lost to something concurrent (a serialization failure, a deadlock, a lock
 *   or statement timeout). The entry is tried again at once, a few times; if it keeps failing the
 *   store is treated as away (an outage), since a lock held that long is the store's state.
 * - `entry`: the entry's own failure (a constraint, a bug): it costs a delivery, and after
 *   `maxDeliveries` the entry is dead-lettered.
 * Neither `outage` nor `retry` ever costs a delivery.
 */
export type FailureKind = 'outage' | 'retry' | 'entry';

/**
 * The failures that are not the entry's, keyed by node's socket error code, Postgres's SQLSTATE
 * (five characters) or SQLSTATE class (its first two), or the first word of a Redis error reply;
 * an exact code wins over its class. Everything not listed is the entry's own: data and
 * constraint errors (classes 22 and 23, and 40002, a constraint checked at commit), errors in the
 * handler's SQL or the schema (42, 0A, 25P02: waiting does not fix them, a replay after the fix
 * does), and internal errors and corruption (XX: an operator repairs them, then the dead letters
 * are replayed).
 */
const FAILURES: Record<string, FailureKind> = {
  // Node sockets: the server cannot be reached (down, restarting, its name moving in a
  // failover) or the connection broke under the query.
  ECONNREFUSED: 'outage',
  ECONNRESET: 'outage',
  ECONNABORTED: 'outage',
  EPIPE: 'outage',
  ETIMEDOUT: 'outage',
  EHOSTUNREACH: 'outage',
  ENETUNREACH: 'outage',
  ENOTFOUND: 'outage',
  EAI_AGAIN: 'outage',

  // Class 08, connection exceptions: the connection failed or was lost, whatever the entry.
  '08': 'outage',
  // ...except 08P01 protocol_violation: a malformed message from the client (e.g. more bind
  // parameters than the protocol allows), which an entry can cause and waiting does not fix.
  '08P01': 'entry',
  // Class 28, invalid authorization, and 3D000, no such database: the store refuses this
  // application (credentials rotated, a database being restored); every entry would fail alike.
  '28': 'outage',
  '3D000': 'outage',
  // 25006 read_only_sql_transaction: the server takes no writes (a standby after a failover, a
  // primary put in read-only mode); writes work again once a writable primary is back.
  '25006': 'outage',
  // Class 53, insufficient resources: disk full (53100), out of memory (53200), too many
  // connections (53300), a configured limit (53400). They pass once the resource is freed.
  '53': 'outage',
  // Class 57, operator intervention: a fast shutdown or a terminated backend (57P01), a crash
  // of another backend resetting them all (57P02), a server starting, stopping or recovering
  // (57P03), the database dropped until it is restored (57P04).
  '57P01': 'outage',
  '57P02': 'outage',
  '57P03': 'outage',
  '57P04': 'outage',
  // 57014 query_canceled: a statement timeout or a cancel request. A single-row apply that
  // times out was waiting on a lock or a saturated server, not failing on its data.
  '57014': 'retry',
  // The server ended a session idle too long (57P05, or 25P03 idle within a transaction) or a
  // transaction that ran past transaction_timeout (25P04, Postgres 17): a fresh try works.
  '57P05': 'retry',
  '25P03': 'retry',
  '25P04': 'retry',
  // Class 58, system errors outside Postgres: the server's disk or operating system failed
  // (58030 io_error, 58P01 a file missing). The operator's to fix; the entries are not at fault.
  '58': 'outage',
  // Class 40, transaction rollback: the transaction lost to a concurrent one (40001
  // serialization_failure, 40P01 deadlock victim) and was rolled back whole, or its commit's
  // outcome is unknown (40003; the apply is idempotent). The same entry succeeds on a new try.
  '40001': 'retry',
  '40P01': 'retry',
  '40003': 'retry',
  // 55P03 lock_not_available: lock_timeout (or NOWAIT) met a lock another session holds.
  '55P03': 'retry',
  // 72000 snapshot_too_old: the snapshot aged past old_snapshot_threshold; a new one is fresh.
  '72000': 'retry',

  // Redis replies of a server that is away or refusing writes: loading its data after a
  // restart, a replica after a failover or one that lost its master, a cluster not serving the
  // slot, a script running past its limit, maxmemory reached, persistence failing, too few
  // replicas for min-replicas-to-write; UNBLOCKED, a blocking read ended because its server
  // turned replica. TRYAGAIN: a slot is migrating, gone in a moment.
  LOADING: 'outage',
  READONLY: 'outage',
  UNBLOCKED: 'outage',
  MASTERDOWN: 'outage',
  CLUSTERDOWN: 'outage',
  BUSY: 'outage',
  OOM: 'outage',
  MISCONF: 'outage',
  NOREPLICAS: 'outage',
  TRYAGAIN: 'retry',
};

/**
 * node-postgres reports a lost connection by message only; ioredis likewise for a closed
 * connection, a command that ran out of reconnect retries, or a full offline queue.
 */
const CONNECTION_MESSAGES =
  /Connection terminated|not queryable|timeout exceeded when trying to connect|Client has encountered a connection error|Connection is closed|Reached the max retries per request limit|Stream isn't writeable|enableOfflineQueue options is false|connect ECONNREFUSED|Command timed out/;

function lookup(key: string): FailureKind | undefined {
  return Object.hasOwn(FAILURES, key) ? FAILURES[key] : undefined;
}

/** How one error, without its causes, reads against the table. */
function ownKind(error: Error): FailureKind {
  if (error instanceof InfrastructureError) return 'outage';
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') {
    const known =
      lookup(code) ?? (/^[0-9A-Z]{5}$/.test(code) ? lookup(code.slice(0, 2)) : undefined);
    if (known) return known;
  }
  // ioredis's ReplyError carries the reply only in its message: "READONLY You can't write ...".
  if (error.name === 'ReplyError') {
    const known = lookup(error.message.split(' ', 1)[0] ?? '');
    if (known) return known;
  }
  if (error.name === 'MaxRetriesPerRequestError') return 'outage';
  if (CONNECTION_MESSAGES.test(error.message)) return 'outage';
  return 'entry';
}

/**
 * The default classification of a failure, looking through `cause` and AggregateError's
 * `errors` (node's happy-eyeballs connect puts the socket errors there): an outage anywhere in
 * the chain makes it an outage, else a `retry` anywhere makes it one, else it is the entry's.
 */
export function classifyFailure(error: unknown, depth = 0): FailureKind {
  if (!(error instanceof Error) || depth > 5) return 'entry';
  const { errors, cause } = error as { errors?: unknown; cause?: unknown };
  const inner = [...(Array.isArray(errors) ? errors : []), cause];
  const kinds = [ownKind(error), ...inner.map((e) => classifyFailure(e, depth + 1))];
  if (kinds.includes('outage')) return 'outage';
  return kinds.includes('retry') ? 'retry' : 'entry';
}

/** True when the failure is not the entry's own (an outage, or a try to repeat at once). */
export function isInfrastructureError(error: unknown): boolean {
  return classifyFailure(error) !== 'entry';
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
