import { UnrecoverableError } from 'bullmq';
import type { RESOURCE_DEFINITIONS, RenderedRow } from '../resources';

/**
 * Validation where it pays at this rate: the page's first event against the whole contract (the
 * rendering's shape), every row's data-dependent fields against their part of the contract. A
 * row that fails cannot be fixed by retrying: the run fails with a reason a person can act on.
 */
export function checkPage(
  rows: RenderedRow[],
  definition: (typeof RESOURCE_DEFINITIONS)[keyof typeof RESOURCE_DEFINITIONS],
  resource: string,
): void {
  const fail = (row: RenderedRow, issue: { path: PropertyKey[]; message: string } | undefined) => {
    throw new UnrecoverableError(
      `${resource} row ${row.id} is not a valid ${definition.eventType} event: ` +
        `${issue?.path.join('.')}: ${issue?.message}`,
    );
  };
  for (const row of rows) {
    // Postgres renders a timestamp it cannot write as ISO-8601 (infinite, or outside the years
    // 0001-9999) as NULL, and with it the whole event.
    if (typeof row.event !== 'string') {
      fail(row, {
        path: ['timestamps'],
        message: 'a timestamp of the row is infinite or outside the years 0001-9999',
      });
    }
    const checked = definition.rowSchema?.safeParse(row);
    if (checked && !checked.success) fail(row, checked.error.issues[0]);
  }
  const first = rows[0];
  if (!first) return;
  const full = definition.schema.safeParse(JSON.parse(first.event));
  if (!full.success) fail(first, full.error.issues[0]);
}
