/**
 * How long the API takes to answer, per route: a Prometheus histogram observed as each response
 * is sent (Fastify's `elapsedTime`: from the request's arrival at its route to the answer's end).
 * Labelled by the route's pattern, never the URL (an id in a path would make a series per tenant
 * or run), by method and by status class; an unknown path counts under `route="unmatched"`. So a
 * tenant key can add observations, never series.
 *
 * It is the API's own share of a request's latency: what a client waits for beyond it is the
 * network, the client and, on a shared machine, the wait for a core before the request reaches
 * its route (docs/PERFORMANCE.md).
 */
import type { FastifyInstance } from 'fastify';
import { Histogram } from 'prom-client';

/** From a millisecond to ten seconds: a toggle takes a few, a dry run's counts may take seconds. */
const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export type RequestDurations = Histogram<'route' | 'method' | 'code'>;

export function trackRequestDurations(app: FastifyInstance): RequestDurations {
  const durations: RequestDurations = new Histogram({
    name: 'hs_http_request_duration_seconds',
    help: 'Time the API took to answer, per route pattern, method and status class',
    labelNames: ['route', 'method', 'code'],
    buckets: BUCKETS,
    registers: [],
  });
  app.addHook('onResponse', async (request, reply) => {
    durations.observe(
      {
        route: request.routeOptions.url ?? 'unmatched',
        method: request.method,
        code: `${Math.floor(reply.statusCode / 100)}xx`,
      },
      reply.elapsedTime / 1000,
    );
  });
  return durations;
}
