import type { RunView } from '@historical-sync/contracts';
import { describe, expect, it } from 'vitest';
import {
  estimateEtaMs,
  formatDuration,
  formatProgressLine,
  formatRate,
  formatRunFrame,
  measureRate,
  renderBar,
} from '../src/progress';

describe('measureRate', () => {
  it('is unknown until two polls', () => {
    expect(measureRate([])).toBeNull();
    expect(measureRate([{ atMs: 0, published: 10 }])).toBeNull();
  });

  it('is events per second across the samples inside the window', () => {
    const samples = [
      { atMs: 0, published: 0 },
      { atMs: 1_000, published: 100 },
      { atMs: 2_000, published: 300 },
    ];
    expect(measureRate(samples)).toBe(150);
    // A 1.5 s window leaves the first sample out: only the latest second counts.
    expect(measureRate(samples, 1_500)).toBe(200);
  });

  it('falls back to the previous poll when polls are further apart than the window', () => {
    const samples = [
      { atMs: 0, published: 0 },
      { atMs: 30_000, published: 600 },
    ];
    expect(measureRate(samples, 10_000)).toBe(20);
  });

  it('is zero while nothing moves, never negative', () => {
    expect(
      measureRate([
        { atMs: 0, published: 50 },
        { atMs: 1_000, published: 50 },
      ]),
    ).toBe(0);
    expect(
      measureRate([
        { atMs: 0, published: 50 },
        { atMs: 1_000, published: 40 },
      ]),
    ).toBe(0);
  });
});

describe('estimateEtaMs', () => {
  it('is the remaining events over the rate', () => {
    expect(estimateEtaMs(400, 1_000, 200)).toBe(3_000);
  });

  it('is zero when everything is published, unknown without a total or a rate', () => {
    expect(estimateEtaMs(1_000, 1_000, null)).toBe(0);
    expect(estimateEtaMs(400, null, 200)).toBeNull();
    expect(estimateEtaMs(400, 1_000, null)).toBeNull();
    expect(estimateEtaMs(400, 1_000, 0)).toBeNull();
  });
});

describe('formatting', () => {
  it('formats durations, rates and bars', () => {
    expect(formatDuration(400)).toBe('1s');
    expect(formatDuration(42_000)).toBe('42s');
    expect(formatDuration(185_000)).toBe('3m 05s');
    expect(formatDuration(7_620_000)).toBe('2h 07m');
    expect(formatRate(2.25)).toBe('2.3 ev/s');
    expect(formatRate(12_345.6)).toBe('12,346 ev/s');
    expect(renderBar(0, 4)).toBe('[░░░░]');
    expect(renderBar(50, 4)).toBe('[██░░]');
    expect(renderBar(100, 4)).toBe('[████]');
    expect(renderBar(null, 4)).toBe('[░░░░]');
  });

  it('shows rate and ETA while the run is active', () => {
    const line = formatProgressLine({
      status: 'running',
      published: 600,
      total: 1_000,
      percent: 60,
      rate: 120,
      barWidth: 10,
    });
    expect(line).toBe('[██████░░░░]   60%  600/1,000  running  120 ev/s  ETA 4s');
  });

  it('shows placeholders before the second poll, and no ETA while paused', () => {
    const base = { published: 0, total: null, percent: null, barWidth: 4 };
    expect(formatProgressLine({ ...base, status: 'queued', rate: null })).toBe(
      '[░░░░]    ?%  0/?  queued  -- ev/s  ETA --',
    );
    expect(formatProgressLine({ ...base, total: 10, percent: 0, status: 'paused', rate: 0 })).toBe(
      '[░░░░]    0%  0/10  paused  0.0 ev/s  ETA --',
    );
  });

  it('leaves rate and ETA out once the run has ended', () => {
    const line = formatProgressLine({
      status: 'completed',
      published: 70,
      total: 70,
      percent: 100,
      rate: 35,
      barWidth: 4,
    });
    expect(line).toBe('[████]  100%  70/70  completed');
  });

  it('frames a run with one line per resource', () => {
    const run = {
      runId: 'r1',
      status: 'running',
      published: 15,
      total: 30,
      percent: 50,
      resources: {
        credits: { status: 'completed', published: 10, total: 10, percent: 100, lastError: null },
        organizations: { status: 'running', published: 5, total: 20, percent: 25, lastError: null },
      },
    } as unknown as RunView;
    expect(formatRunFrame(run, 5, 8)).toEqual([
      'run r1  [████░░░░]   50%  15/30  running  5.0 ev/s  ETA 3s',
      '  credits       [████]  100%  10/10  completed',
      '  organizations [█░░░]   25%  5/20  running',
    ]);
  });
});
