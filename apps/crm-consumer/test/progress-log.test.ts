/** The consumer's periodic progress line: written when the counts moved, never while idle. */
import { describe, expect, it } from 'vitest';
import { progressReporter } from '../src/progress-log';

describe('progressReporter', () => {
  it('logs only when the counts changed since the last line', () => {
    const counts = { applied: 0, stale: 0 };
    const lines: (typeof counts)[] = [];
    const tick = progressReporter(counts, (c) => lines.push(c));
    tick();
    tick();
    expect(lines).toEqual([]);
    counts.applied += 2;
    tick();
    tick();
    tick();
    expect(lines).toEqual([{ applied: 2, stale: 0 }]);
    counts.stale += 1;
    tick();
    tick();
    expect(lines).toEqual([
      { applied: 2, stale: 0 },
      { applied: 2, stale: 1 },
    ]);
  });
});
