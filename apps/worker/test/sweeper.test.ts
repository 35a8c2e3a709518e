/**
 * The sweeper's schedule: a sweep that outlasts its interval is never joined by a second one, and
 * stopping waits for the sweep in flight and starts no other. The sweep here holds a Postgres
 * connection longer than ten intervals, as a sweep over a large backlog does.
 */
import { createTestDatabase, type TestDatabase } from '@historical-sync/db/testing';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSweeper } from '../src/sweeper';

const INTERVAL_MS = 20;

describe('sweeper schedule', () => {
  let test: TestDatabase;
  beforeAll(async () => {
    test = await createTestDatabase('worker_sweeper', { migrate: false });
  });
  afterAll(async () => {
    await test.destroy();
  });

  it('runs one sweep at a time, and a stop waits for the one in flight', async () => {
    let inFlight = 0;
    let mostAtOnce = 0;
    let started = 0;
    let finished = 0;
    const errors: unknown[] = [];
    const sweeper = startSweeper({
      intervalMs: INTERVAL_MS,
      sweep: async () => {
        started += 1;
        inFlight += 1;
        mostAtOnce = Math.max(mostAtOnce, inFlight);
        try {
          await sql`SELECT pg_sleep(${(INTERVAL_MS * 10) / 1000})`.execute(test.db);
        } finally {
          inFlight -= 1;
          finished += 1;
        }
      },
      onError: (error) => errors.push(error),
    });
    await expect.poll(() => finished, { timeout: 30_000 }).toBeGreaterThanOrEqual(3);
    expect(mostAtOnce).toBe(1);

    // Stopped mid-sweep: the stop resolves only once that sweep has finished.
    await expect.poll(() => inFlight, { timeout: 30_000, interval: 5 }).toBe(1);
    const startedBeforeStop = started;
    await sweeper.stop();
    expect(inFlight).toBe(0);
    expect(finished).toBe(startedBeforeStop);
    // Nothing is scheduled after it: the next sweep would have started within an interval.
    await new Promise((resolve) => setTimeout(resolve, INTERVAL_MS * 5));
    expect(started).toBe(startedBeforeStop);
    expect(mostAtOnce).toBe(1);
    expect(errors).toEqual([]);
    await sweeper.stop();
  });

  it('a failed sweep is reported and the next one still runs', async () => {
    const errors: unknown[] = [];
    let calls = 0;
    const sweeper = startSweeper({
      intervalMs: INTERVAL_MS,
      sweep: async () => {
        calls += 1;
        await sql`SELECT 1 / ${calls === 1 ? 0 : 1}`.execute(test.db);
      },
      onError: (error) => errors.push(error),
    });
    try {
      await expect.poll(() => calls, { timeout: 30_000 }).toBeGreaterThanOrEqual(2);
      expect(errors).toHaveLength(1);
      expect(String(errors[0])).toMatch(/division by zero/);
    } finally {
      await sweeper.stop();
    }
  });
});
