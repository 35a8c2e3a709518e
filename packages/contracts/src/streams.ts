/**
 * The one place that names streams (docs/decisions/0007-stream-names.md), from the resource
 * registry (resources.ts). Credit events share `credit-events` (consumers tell applications apart
 * by `metadata.targetApplication`); organization and membership events go to per-application
 * streams named `<app>:sync:organization:<kind>`.
 * `prefix` namespaces every name (tests, or several environments sharing one Redis).
 */
import type { EventType } from './events/index.js';
import { RESOURCE_REGISTRY } from './resources.js';

/** Each event type's stream: a shared name, or the kind in a per-application name. */
type StreamOf = { shared: string } | { kind: string };
const STREAM_OF = new Map<string, StreamOf>(
  RESOURCE_REGISTRY.flatMap(({ events, streams }): [string, StreamOf][] =>
    'shared' in streams
      ? events.all.map((type) => [type, { shared: streams.shared }])
      : Object.entries(streams.perApplication).map(([type, kind]) => [type, { kind }]),
  ),
);

export function streamName(eventType: EventType, appCode: string, prefix = ''): string {
  const stream = STREAM_OF.get(eventType);
  if (!stream) throw new Error(`no stream for event type ${eventType}`);
  return 'shared' in stream
    ? `${prefix}${stream.shared}`
    : `${prefix}${appCode}:sync:organization:${stream.kind}`;
}

/** Every stream an application's consumer reads; the shared ones first. */
export function applicationStreams(appCode: string, prefix = ''): string[] {
  const shared = new Set<string>();
  const own: string[] = [];
  for (const stream of STREAM_OF.values()) {
    if ('shared' in stream) shared.add(`${prefix}${stream.shared}`);
    else own.push(`${prefix}${appCode}:sync:organization:${stream.kind}`);
  }
  return [...shared, ...own];
}

/** Entries carry the event as JSON in this one field. */
export const EVENT_FIELD = 'event';
