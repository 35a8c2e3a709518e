/**
 * The one place that names streams (docs/decisions/0007-stream-names.md). Credit events share
 * `credit-events` (consumers tell applications apart by `metadata.targetApplication`); organization
 * and membership events go to per-application streams named `<app>:sync:organization:<kind>`.
 * `prefix` namespaces every name (tests, or several environments sharing one Redis).
 */
import type { EventType } from './events/index.js';

export const CREDIT_EVENTS_STREAM = 'credit-events';

const ORGANIZATION_STREAM_KIND = {
  'org.created': 'org_created',
  'org.updated': 'org_updated',
  'org.deleted': 'org_deleted',
  'org.assignment.created': 'assignment_created',
  'org.assignment.removed': 'assignment_removed',
} as const satisfies Record<Exclude<EventType, `credit.${string}`>, string>;

export function streamName(eventType: EventType, appCode: string, prefix = ''): string {
  if (eventType.startsWith('credit.')) return `${prefix}${CREDIT_EVENTS_STREAM}`;
  const kind = ORGANIZATION_STREAM_KIND[eventType as keyof typeof ORGANIZATION_STREAM_KIND];
  return `${prefix}${appCode}:sync:organization:${kind}`;
}

/** Every stream an application's consumer reads; credit events first. */
export function applicationStreams(appCode: string, prefix = ''): string[] {
  return [
    `${prefix}${CREDIT_EVENTS_STREAM}`,
    ...Object.values(ORGANIZATION_STREAM_KIND).map(
      (kind) => `${prefix}${appCode}:sync:organization:${kind}`,
    ),
  ];
}

/** Entries carry the event as JSON in this one field. */
export const EVENT_FIELD = 'event';
