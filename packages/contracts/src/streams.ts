/**
 * The one place that names streams (docs/decisions/0007-stream-names.md), from the resource
 * registry (resources.ts). Credit events share `credit-events` (consumers tell applications apart
 * by `metadata.targetApplication`); organization and membership events go to per-application
 * streams named `<app>:sync:organization:<kind>`.
 * `prefix` namespaces every name (tests, or several environments sharing one Redis).
 */
import type { EventType } from './events/index.js';
import { RESOURCE_REGISTRY, registryGeneration } from './resources.js';

/** Each event type's stream: a shared name, or the kind in a per-application name. */
type StreamOf = { shared: string } | { kind: string };
let cache = { generation: -1, of: new Map<string, StreamOf>() };
/** Made again when a resource has been registered since (resources.ts). */
function streamsOf(): Map<string, StreamOf> {
  if (cache.generation !== registryGeneration()) {
    const of = new Map<string, StreamOf>(
      RESOURCE_REGISTRY.flatMap(({ events, streams }): [string, StreamOf][] =>
        'shared' in streams
          ? events.all.map((type) => [type, { shared: streams.shared }])
          : Object.entries(streams.perApplication).flatMap(([type, kind]) =>
              kind ? [[type, { kind }]] : [],
            ),
      ),
    );
    cache = { generation: registryGeneration(), of };
  }
  return cache.of;
}

export function streamName(
  eventType: EventType | (string & {}),
  appCode: string,
  prefix = '',
): string {
  const stream = streamsOf().get(eventType);
  if (!stream) throw new Error(`no stream for event type ${eventType}`);
  return 'shared' in stream
    ? `${prefix}${stream.shared}`
    : `${prefix}${appCode}:sync:organization:${stream.kind}`;
}

/** Every stream an application's consumer reads; the shared ones first. */
export function applicationStreams(appCode: string, prefix = ''): string[] {
  const shared = new Set<string>();
  const own: string[] = [];
  for (const stream of streamsOf().values()) {
    if ('shared' in stream) shared.add(`${prefix}${stream.shared}`);
    else own.push(`${prefix}${appCode}:sync:organization:${stream.kind}`);
  }
  return [...shared, ...own];
}

/** Entries carry the event as JSON in this one field. */
export const EVENT_FIELD = 'event';
