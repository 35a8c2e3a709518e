/**
 * The run state machine's data, without a database: the actions a console offers for each
 * status, its agreement with the contracts' run vocabulary (which statuses are final, active,
 * ended), and the transition tables in docs/RELIABILITY.md, which are checked against the
 * module's data here so the doc cannot drift from the code.
 */
import { readFileSync } from 'node:fs';
import {
  ACTIVE_RUN_STATUSES,
  ENDED_RUN_STATUSES,
  FINAL_RUN_STATUSES,
  RUN_STATUSES,
} from '@historical-sync/contracts';
import { describe, expect, it } from 'vitest';
import { allowedActions, PARTITION_TRANSITIONS, RUN_TRANSITIONS } from '../src/index';

/** A transition table as the doc shows it: one row per transition. */
function renderTable(
  transitions: Record<string, { from: readonly string[]; to: readonly string[]; by: string }>,
) {
  const rows = Object.entries(transitions).map(
    ([name, rule]) =>
      `| ${name} | ${rule.from.join(', ') || '(new run)'} | ${rule.to.join(', ')} | ${rule.by} |`,
  );
  return ['| transition | from | to | made by |', '| --- | --- | --- | --- |', ...rows].join('\n');
}

describe('run state machine data', () => {
  it('offers the actions each status allows', () => {
    expect(allowedActions('queued')).toEqual(['pause', 'cancel']);
    expect(allowedActions('running')).toEqual(['pause', 'cancel']);
    expect(allowedActions('paused')).toEqual(['resume', 'cancel']);
    expect(allowedActions('failed')).toEqual(['cancel', 'retry']);
    expect(allowedActions('completed')).toEqual([]);
    expect(allowedActions('cancelled')).toEqual([]);
  });

  it("agrees with the contracts' run vocabulary: final is what no transition leaves", () => {
    const left = new Set(
      Object.values(RUN_TRANSITIONS).flatMap((t) => t.from as readonly string[]),
    );
    expect(RUN_STATUSES.filter((status) => !left.has(status))).toEqual([...FINAL_RUN_STATUSES]);
    expect([...FINAL_RUN_STATUSES].sort()).toEqual(['cancelled', 'completed']);
    // Every status is either active or ended, never both; every final status is ended.
    expect([...ACTIVE_RUN_STATUSES, ...ENDED_RUN_STATUSES].sort()).toEqual(
      [...RUN_STATUSES].sort(),
    );
    expect(FINAL_RUN_STATUSES.every((status) => ENDED_RUN_STATUSES.includes(status))).toBe(true);
    // A run is created active, and only an active run can be paused.
    expect(RUN_TRANSITIONS.create.to.every((s) => ACTIVE_RUN_STATUSES.includes(s))).toBe(true);
    expect(RUN_TRANSITIONS.pause.from.every((s) => ACTIVE_RUN_STATUSES.includes(s))).toBe(true);
  });

  it('matches the tables in docs/RELIABILITY.md', () => {
    const doc = readFileSync(new URL('../../../docs/RELIABILITY.md', import.meta.url), 'utf8');
    expect(doc).toContain(renderTable(RUN_TRANSITIONS));
    expect(doc).toContain(renderTable(PARTITION_TRANSITIONS));
  });
});
