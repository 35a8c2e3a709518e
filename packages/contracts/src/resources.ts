/** What a backfill can sync, each with its own queue and checkpoint. */
export const RESOURCES = ['credits', 'organizations', 'memberships'] as const;
export type Resource = (typeof RESOURCES)[number];

/** The event type the backfill publishes for each resource's rows (the spec's three). */
export const HISTORICAL_EVENT_TYPE = {
  credits: 'credit.allocated',
  organizations: 'org.created',
  memberships: 'org.assignment.created',
} as const satisfies Record<Resource, string>;

/**
 * The event that tells an application a row of the resource is no longer active: what a
 * verification's repair publishes for a row the application holds that the source has inactive.
 */
export const TOMBSTONE_EVENT_TYPE = {
  credits: 'credit.deactivated',
  organizations: 'org.deleted',
  memberships: 'org.assignment.removed',
} as const satisfies Record<Resource, string>;
