/**
 * The live streams this process holds open, per API key: at most `maxPerKey` slots a key, each
 * freed once whichever way its stream ends, and each stream told to end when its key is revoked
 * or the server closes. A stream outlives neither its key nor its server: it can run for an hour
 * otherwise, long after the key that opened it stopped being valid.
 *
 * Revocation is seen at once when it goes through this process (the key store tells us), and
 * within LIVE_KEY_CHECK_MS when it goes through another: one query every LIVE_KEY_CHECK_MS checks
 * every key with an open stream, while any is open. If Postgres cannot answer, a key's streams end
 * once it has gone unconfirmed for three checks (15 s), so a bound holds through an outage too.
 */
import type { FastifyBaseLogger } from 'fastify';

/** How often the keys holding open streams are checked for revocation. */
export const LIVE_KEY_CHECK_MS = 5_000;
/** Checks a key may go unconfirmed (Postgres not answering) before its streams end. */
const UNCONFIRMED_CHECKS = 3;

export type LiveStreamEnd = 'revoked' | 'unconfirmed' | 'closing';

export interface LiveSlot {
  /** Aborted, with a LiveStreamEnd as its reason, when the stream must end. */
  readonly signal: AbortSignal;
  /** Frees the slot. Every exit path calls it; only the first call counts. */
  release(): void;
}

/** What the registry needs of the key store. */
export interface KeyValidity {
  unrevoked(keyIds: readonly string[]): Promise<Set<string>>;
  onRevoke(listener: (keyId: string) => void): void;
}

interface Held {
  keyId: string;
  end: AbortController;
}

export class LiveStreams {
  private readonly byKey = new Map<string, Set<Held>>();
  /** When each key with open streams was last confirmed unrevoked. */
  private readonly confirmedAt = new Map<string, number>();
  private checker: NodeJS.Timeout | undefined;
  private checking = false;

  constructor(
    private readonly keys: KeyValidity,
    private readonly options: { maxPerKey: number; keyCheckMs?: number; log: FastifyBaseLogger },
  ) {
    keys.onRevoke((keyId) => this.end(keyId, 'revoked'));
  }

  /**
   * A slot for one of `keyId`'s streams, or null when the key holds `maxPerKey` already. Taken
   * synchronously, so concurrent requests of one key cannot all pass. The caller has just been
   * authenticated with this key, which confirms it.
   */
  acquire(keyId: string): LiveSlot | null {
    const held = this.byKey.get(keyId) ?? new Set<Held>();
    if (held.size >= this.options.maxPerKey) return null;
    const entry: Held = { keyId, end: new AbortController() };
    held.add(entry);
    this.byKey.set(keyId, held);
    if (!this.confirmedAt.has(keyId)) this.confirmedAt.set(keyId, Date.now());
    this.startChecking();
    let released = false;
    return {
      signal: entry.end.signal,
      release: () => {
        if (released) return;
        released = true;
        held.delete(entry);
        if (held.size === 0 && this.byKey.get(keyId) === held) {
          this.byKey.delete(keyId);
          this.confirmedAt.delete(keyId);
        }
        if (this.byKey.size === 0) this.stopChecking();
      },
    };
  }

  /** Streams open (or being set up) in this process. */
  openCount(): number {
    let count = 0;
    for (const held of this.byKey.values()) count += held.size;
    return count;
  }

  /** Tells every open stream to end (the server is closing: it would wait an hour for them). */
  closeAll(): void {
    for (const keyId of [...this.byKey.keys()]) this.end(keyId, 'closing');
  }

  private end(keyId: string, reason: LiveStreamEnd): void {
    // Each stream's abort listener releases its slot, which changes the set: iterate a copy.
    for (const entry of [...(this.byKey.get(keyId) ?? [])]) entry.end.abort(reason);
  }

  private startChecking(): void {
    if (this.checker) return;
    this.checker = setInterval(
      () => void this.checkKeys(),
      this.options.keyCheckMs ?? LIVE_KEY_CHECK_MS,
    );
    this.checker.unref();
  }

  private stopChecking(): void {
    clearInterval(this.checker);
    this.checker = undefined;
  }

  private async checkKeys(): Promise<void> {
    if (this.checking) return;
    this.checking = true;
    const keyIds = [...this.byKey.keys()];
    try {
      const valid = await this.keys.unrevoked(keyIds);
      const now = Date.now();
      for (const keyId of keyIds) {
        if (valid.has(keyId)) {
          if (this.confirmedAt.has(keyId)) this.confirmedAt.set(keyId, now);
        } else {
          this.end(keyId, 'revoked');
        }
      }
    } catch (error) {
      this.options.log.warn({ err: error }, 'live streams could not check their keys; retrying');
      const unconfirmedMs = UNCONFIRMED_CHECKS * (this.options.keyCheckMs ?? LIVE_KEY_CHECK_MS);
      for (const keyId of keyIds) {
        const confirmed = this.confirmedAt.get(keyId);
        if (confirmed !== undefined && Date.now() - confirmed > unconfirmedMs) {
          this.end(keyId, 'unconfirmed');
        }
      }
    } finally {
      this.checking = false;
    }
  }
}
