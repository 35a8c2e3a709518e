/**
 * The run state machine's data, without a database: the actions a console offers for each
 * status, and the transition tables in docs/RELIABILITY.md, which are checked against the
 * module's data here so the doc cannot drift from the code.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  allowedActions,
  FINAL_RUN_STATUSES,
  PARTITION_TRANSITIONS,
  RUN_TRANSITIONS,
} from '../src/index';

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

  it('knows completed and cancelled as the only final statuses', () => {
    expect([...FINAL_RUN_STATUSES].sort()).toEqual(['cancelled', 'completed']);
  });

  it('matches the tables in docs/RELIABILITY.md', () => {
    const doc = readFileSync(new URL('../../../docs/RELIABILITY.md', import.meta.url), 'utf8');
    expect(doc).toContain(renderTable(RUN_TRANSITIONS));
    expect(doc).toContain(renderTable(PARTITION_TRANSITIONS));
  });
});
