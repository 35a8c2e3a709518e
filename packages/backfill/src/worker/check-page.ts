import type { Resource } from '@historical-sync/contracts';
import { UnrecoverableError } from 'bullmq';
import type { RenderedPage } from '../publish/page-commands';
import { RESOURCE_DEFINITIONS, type ResourceScope, renderingOf } from '../resources';

/**
 * Validation where it pays at this rate: the page's first event against the whole contract (the
 * rendering's shape), every row's data-dependent fields against their part of the contract. A row
 * that fails cannot be fixed by retrying: the run fails with a reason a person can act on.
 */
export function checkPage(page: RenderedPage, resource: Resource, scope: ResourceScope): void {
  const { rowSchema } = RESOURCE_DEFINITIONS[resource];
  // A repair's tombstone partition renders the resource's tombstone, checked as one.
  const rendering = renderingOf(resource, scope);
  const fail = (id: string, issue: { path: PropertyKey[]; message: string } | undefined) => {
    throw new UnrecoverableError(
      `${resource} row ${id} is not a valid ${rendering.eventType} event: ` +
        `${issue?.path.join('.')}: ${issue?.message}`,
    );
  };
  // Postgres renders a timestamp it cannot write as ISO-8601 (infinite, or outside the years
  // 0001-9999) as NULL, and with it the whole event.
  if (page.unrenderedId !== null) {
    fail(page.unrenderedId, {
      path: ['timestamps'],
      message: 'a timestamp of the row is infinite or outside the years 0001-9999',
    });
  }
  if (rowSchema) {
    for (const row of page.checked) {
      const checked = rowSchema.safeParse(row);
      if (!checked.success) fail(row.id, checked.error.issues[0]);
    }
  }
  if (page.firstEvent !== null) {
    const full = rendering.schema.safeParse(JSON.parse(page.firstEvent));
    if (!full.success) fail(page.firstId, full.error.issues[0]);
  }
}
