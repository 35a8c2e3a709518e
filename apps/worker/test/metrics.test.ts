/**
 * WORKER_METRICS_PORT: a worker process serves its own series and the default process metrics
 * (CPU, memory, heap, event-loop lag) in Prometheus text, counting what it publishes.
 */
import { createServer } from 'node:net';
import {
  type BackfillTestContext,
  createBackfillTestContext,
} from '@historical-sync/backfill/testing';
import { seedTenant } from '@historical-sync/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killWorker, spawnWorker, type WorkerProcess } from './worker-process';

/** A port free at this moment, for the worker to listen on. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (!address || typeof address === 'string') throw new Error('no port');
  return address.port;
}

describe('worker metrics', () => {
  let t: BackfillTestContext;
  let worker: WorkerProcess | undefined;
  beforeAll(async () => {
    t = await createBackfillTestContext('worker_metrics', { pageSize: 5 });
  });
  afterAll(async () => {
    await killWorker(worker);
    await t.close();
  });

  it('serves the published-events and page-publish series and the default process metrics', async () => {
    const { tenantId } = await seedTenant(t.db, {
      tenantName: 'metrics',
      organizations: 3,
      memberships: 7,
      creditAllocations: 2,
      app: 'crm',
      seed: 4,
    });
    const port = await freePort();
    worker = spawnWorker({ ...t.env, WORKER_METRICS_PORT: String(port) });
    await worker.ready();
    const run = await t.enableAndEnqueue(tenantId);
    await t.waitForRun(run.id, ['completed'], 60_000);

    // The counters move as pages are published; the run completes after its last page.
    const scrape = async () => {
      const response = await fetch(`http://127.0.0.1:${port}/metrics`);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
      return response.text();
    };
    const counted =
      /^hs_events_published_total\{resource="memberships",app="crm",source="historical"\} 7$/m;
    let text = await scrape();
    for (const deadline = Date.now() + 30_000; !counted.test(text) && Date.now() < deadline; ) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      text = await scrape();
    }
    expect(text).toContain(
      '# HELP hs_events_published_total Events published to the streams, by resource, application and source',
    );
    expect(text).toContain('# TYPE hs_events_published_total counter');
    expect(text).toMatch(counted);
    expect(text).toContain('# HELP hs_page_publish_seconds Duration of one atomic page publish');
    expect(text).toContain('# TYPE hs_page_publish_seconds histogram');
    // 7 memberships in pages of 5: two pages.
    expect(text).toMatch(/^hs_page_publish_seconds_count\{resource="memberships"\} 2$/m);
    expect(text).toMatch(/^hs_page_publish_seconds_bucket\{le="1",resource="memberships"\} 2$/m);
    // Source protection is off in this process (the test context's choice): its series are
    // served, at zero.
    expect(text).toContain('# TYPE hs_backfill_source_throttled_seconds_total counter');
    expect(text).toMatch(/^hs_backfill_source_throttled_seconds_total 0$/m);
    expect(text).toMatch(/^hs_backfill_source_throttled 0$/m);
    expect(text).toMatch(/^hs_backfill_source_api_delay_seconds 0$/m);
    for (const series of [
      'process_cpu_user_seconds_total',
      'process_resident_memory_bytes',
      'nodejs_heap_size_used_bytes',
      'nodejs_eventloop_lag_seconds',
    ])
      expect(text).toMatch(new RegExp(`^${series} \\d`, 'm'));
    expect(await (await fetch(`http://127.0.0.1:${port}/health`)).json()).toEqual({
      status: 'ok',
    });
  });
});
