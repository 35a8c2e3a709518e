/**
 * The relay batch's lease: its XADDs may run only while its Postgres session surely holds the
 * enablement rows it read (`FOR SHARE`), which a disable waits for. Postgres ends a session idle
 * inside a transaction for `idle_in_transaction_session_timeout` and frees its locks; the relay
 * sets that timeout for its batch (the lease), read last before the XADDs, so the session lives
 * at least `leaseMs` after the lease's start.
 *
 * A command timeout alone would not do: a command already sent can still run after the relay gave
 * up on it (a Redis stalled by CLIENT PAUSE, a long command, a slow disk runs it when it resumes),
 * after the session ended and a disable answered. So each stream's XADDs run in one script that
 * first reads Redis's clock and refuses them all past a deadline in that clock. The deadline comes
 * from a reading of the same node's clock taken after the lease started: Redis read it before its
 * answer arrived, so `reading + (start + lease * SAFETY - arrival)` falls before the session can
 * end, whatever the two clocks read. Redis's clock running at another rate than the relay's, or
 * stepping forward a little, is absorbed by the rest of the lease.
 */
import { evalScript, script } from '@historical-sync/runtime';
import type { Cluster, Redis } from 'ioredis';

/** The share of the lease the XADDs must run within, by Redis's clock. */
const SAFETY = 0.75;
/** When the relay stops waiting and rolls back: after the deadline, before the session's end. */
const GIVE_UP = 0.875;

/** KEYS: the stream. ARGV: deadline (Redis's clock, ms), the event field, then the events. */
const LEASED_XADD = script(
  1,
  `
local now = redis.call('TIME')
if tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) > tonumber(ARGV[1]) then
  return redis.error_reply('LEASE the relay batch ran out of time before Redis ran its XADDs')
end
for i = 3, #ARGV do redis.call('XADD', KEYS[1], '*', ARGV[2], ARGV[i]) end
return #ARGV - 2
`,
);

/** KEYS: a key of the node whose clock is wanted (Redis Cluster routes by it). */
const CLOCK = script(1, `return redis.call('TIME')`);

export class BatchLease {
  private readonly start = performance.now();

  constructor(
    private readonly redis: Redis | Cluster,
    private readonly leaseMs: number,
  ) {}

  /** Redis's clock on the node of `key`, read now, for `publish`. */
  clock(key: string): Promise<[string, string]> {
    const reading = evalScript(this.redis, CLOCK, [key], []) as Promise<[string, string]>;
    reading.catch(() => {}); // awaited by publish, or not at all when nothing is published
    return reading;
  }

  /**
   * Adds each stream's entries, each stream in one script carrying its deadline. `clock`, when
   * given, is one reading that serves every stream (a single Redis, read while Postgres answered);
   * otherwise each stream's node is read first (Redis Cluster). Waits until shortly after the
   * deadline at most, then throws: the batch rolls back while its session still lives.
   */
  async publish(
    byStream: Map<string, string[]>,
    field: string,
    clock: Promise<[string, string]> | undefined,
  ): Promise<void> {
    const streams = [...byStream];
    const work = (async () => {
      const readings = await Promise.all(streams.map(([stream]) => clock ?? this.clock(stream)));
      const left = this.start + this.leaseMs * SAFETY - performance.now();
      if (left <= 0) throw new Error("Redis's clock answered too late for the batch's lease");
      await Promise.all(
        streams.map(([stream, events], i) => {
          const [seconds, micros] = readings[i] as [string, string];
          const deadline = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000 + left);
          return evalScript(
            this.redis,
            LEASED_XADD,
            [stream],
            [String(deadline), field, ...events],
          );
        }),
      );
    })();
    work.catch(() => {}); // a late answer is harmless: past its deadline the script refuses
    let timer: NodeJS.Timeout | undefined;
    const giveUp = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(new Error(`Redis did not answer within the batch's lease (${this.leaseMs} ms)`)),
        this.start + this.leaseMs * GIVE_UP - performance.now(),
      );
    });
    try {
      await Promise.race([work, giveUp]);
    } finally {
      clearTimeout(timer);
    }
  }
}
