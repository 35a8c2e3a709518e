/**
 * Prometheus metrics through prom-client. Every registry a process serves carries the default
 * process metrics (CPU, resident memory, heap, event-loop lag, GC, handles) beside its hs_* series,
 * every name valid for Prometheus's own checks (`promtool check metrics`).
 */
import { createServer, type Server } from 'node:http';
import { collectDefaultMetrics, Registry } from 'prom-client';

let processMetrics: Registry | undefined;

/**
 * Default metrics left out: gauges whose names end in `_total`, which Prometheus reserves for
 * counters (`promtool check metrics` rejects them). Each is the sum over `type` of a gauge that
 * stays (`nodejs_active_handles`, `nodejs_active_requests`, `nodejs_active_resources`), so
 * `sum(nodejs_active_handles)` answers what it did.
 */
const MISNAMED_DEFAULTS = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
];

/**
 * The default metrics, collected once per process: their collectors (the event-loop delay monitor,
 * the GC observer) are process-wide, so a second set (an API built twice in one test process)
 * would only measure the same thing twice.
 */
function processRegistry(): Registry {
  if (!processMetrics) {
    processMetrics = new Registry();
    collectDefaultMetrics({ register: processMetrics });
    for (const name of MISNAMED_DEFAULTS) processMetrics.removeSingleMetric(name);
  }
  return processMetrics;
}

/** A registry for one component's series (register them with `registers: [registry]`). */
export function createMetricsRegistry(): Registry {
  return Registry.merge([processRegistry(), new Registry()]);
}

/** Serves GET /metrics (and /health) for a process without an HTTP server of its own. */
export function serveMetrics(registry: Registry, port: number, host = '0.0.0.0'): Promise<Server> {
  const server = createServer((request, response) => {
    if (request.url === '/metrics') {
      registry.metrics().then(
        (text) => response.writeHead(200, { 'content-type': registry.contentType }).end(text),
        (error: unknown) => response.writeHead(500).end(String(error)),
      );
    } else if (request.url === '/health') {
      response.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
    } else {
      response.writeHead(404).end();
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}
