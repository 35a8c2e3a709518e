/**
 * What the page governors (source-guard.ts, replica-guard.ts) share: one probe per process, every
 * `probeIntervalMs` while pages ask for advice, never two at once, and nothing at all once no page
 * has asked for a while. Each governor says what it probes and how it judges the answer, what it
 * forgets when idle, and its advice.
 *
 * A base class rather than a helper each governor holds: the fields the metrics and tests read
 * (`throttledSeconds`, `probes`, `probeIntervalMs`, `stop()`, `recordWait()`) are then the
 * governor's own, with no forwarding getters.
 */

/** The probe stops when no page has asked for this long, and the governor forgets its state. */
const IDLE_AFTER_MS = 5_000;

export abstract class ProbingGovernor<S extends { probeIntervalMs: number }> {
  private lastAsked = 0;
  private probing: Promise<void> | undefined;
  private probeStarted = 0;
  private timer: NodeJS.Timeout | undefined;
  /** Seconds pages have waited because of this governor, summed over the process's jobs. */
  throttledSeconds = 0;
  /** Probes judged so far (a failed probe is not counted). */
  probes = 0;

  constructor(readonly settings: S) {}

  get probeIntervalMs(): number {
    return this.settings.probeIntervalMs;
  }

  /** Counts a wait a page made because of this governor's advice (for the metrics). */
  recordWait(ms: number): void {
    this.throttledSeconds += ms / 1000;
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One probe and its judgement; it counts itself in `probes` once judged. */
  protected abstract probe(): Promise<void>;

  /** Back to full speed: no page has asked for a while, so what the probes said is stale. */
  protected abstract forget(): void;

  /** A tick found the previous probe still out after `outForMs`; by default it just waits. */
  protected stillProbing(_outForMs: number): void {}

  /** Called as a page asks for advice: starts the probe when it is not running. */
  protected asked(): void {
    this.lastAsked = Date.now();
    if (!this.timer) {
      this.timer = setInterval(() => this.tick(), this.settings.probeIntervalMs);
      this.timer.unref();
      this.tick();
    }
  }

  private tick(): void {
    if (Date.now() - this.lastAsked > IDLE_AFTER_MS) {
      this.stop();
      this.forget();
      return;
    }
    if (this.probing) {
      this.stillProbing(performance.now() - this.probeStarted);
      return;
    }
    this.probeStarted = performance.now();
    this.probing = this.probe()
      .catch(() => {
        // An unreachable database (source or replica) fails the page query itself; the job's fault handling waits.
      })
      .finally(() => {
        this.probing = undefined;
      });
  }
}
