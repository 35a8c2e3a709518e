/** The run view's rate and ETA: what RunRateTracker derives from successive reads of a run. */
import { describe, expect, it } from 'vitest';
import { RunRateTracker } from '../src/read-models/run-rate';

describe('RunRateTracker', () => {
  const at = (clock: { now: number }) => () => clock.now;
  const running = (published: number, startedAt: Date | null = null) => ({
    runId: 'r1',
    status: 'running' as const,
    published,
    total: 1_000,
    startedAt,
  });

  it('is the change over the last 10 s of reads, and the ETA what is left at that rate', () => {
    const clock = { now: 100_000 };
    const rates = new RunRateTracker(at(clock));
    expect(rates.observe(running(0))).toEqual({ eventsPerSecond: null, etaSeconds: null });
    clock.now += 2_000;
    expect(rates.observe(running(100))).toEqual({ eventsPerSecond: 50, etaSeconds: 18 });
    // Slower now: reads older than 10 s leave the window, so the rate follows.
    clock.now += 10_000;
    expect(rates.observe(running(200))).toEqual({ eventsPerSecond: 10, etaSeconds: 80 });
    clock.now += 5_000;
    expect(rates.observe(running(1_000)).etaSeconds).toBe(0);
  });

  it('is the average since the start before two reads a second apart exist', () => {
    const clock = { now: 100_000 };
    const rates = new RunRateTracker(at(clock));
    const started = new Date(clock.now - 4_000);
    expect(rates.observe(running(200, started))).toEqual({ eventsPerSecond: 50, etaSeconds: 16 });
  });

  it('is null for a run that is not running, and forgets it', () => {
    const clock = { now: 100_000 };
    const rates = new RunRateTracker(at(clock));
    rates.observe(running(0));
    clock.now += 2_000;
    expect(rates.observe({ ...running(100), status: 'paused' })).toEqual({
      eventsPerSecond: null,
      etaSeconds: null,
    });
    // Resumed: the paused time does not count as slow publishing.
    clock.now += 60_000;
    expect(rates.observe(running(100)).eventsPerSecond).toBeNull();
  });

  it('has no ETA without a total or while nothing moves', () => {
    const clock = { now: 100_000 };
    const rates = new RunRateTracker(at(clock));
    rates.observe({ ...running(10), total: null });
    clock.now += 2_000;
    expect(rates.observe({ ...running(30), total: null })).toEqual({
      eventsPerSecond: 10,
      etaSeconds: null,
    });
    clock.now += 2_000;
    rates.observe(running(30));
    clock.now += 9_000;
    expect(rates.observe(running(30))).toEqual({ eventsPerSecond: 0, etaSeconds: null });
  });
});
