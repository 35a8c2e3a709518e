/**
 * `npm run bench:stream-memory -- [--memberships 1000000] [--passes 3] [--trim-interval-ms 1000]`
 *
 * What Redis holds over repeated full backfills of one tenant while a consumer reads and
 * acknowledges everything as it arrives, with stream retention off (the worker without its
 * sweeper role: nothing trims, as before retention existed) and on (the default), in the same
 * invocation on the same data. Each mode gets a fresh Redis database state (FLUSHALL) and its own
 * worker; per pass it reports the backfill's rate, Redis's used_memory once the consumer has
 * caught up and the last trim ran, its peak during the pass, and the streams' entries; and the
 * bytes an entry takes in Redis (the streams' memory over their entries, before any trim).
 * The last line printed is one JSON object with the figures.
 */
import { parseArgs } from 'node:util';
import { HISTORICAL_EVENT_TYPE, streamName } from '@historical-sync/contracts';
import { seedTenant } from '@historical-sync/db';
import { createTestDatabase } from '@historical-sync/db/testing';
import { findFreePort, localStateDir, startLocalServices } from '@historical-sync/local-stack';
import { Redis } from 'ioredis';
import { z } from 'zod';
import { type AppProcess, startApp, waitForOk } from './lib/processes';
import { say, sleep } from './lib/say';
import { round } from './lib/stats';

const count = (fallback: number) => z.coerce.number().int().min(0).default(fallback);
const Args = z.object({
  memberships: count(1_000_000),
  passes: count(3),
  'trim-interval-ms': count(1_000),
});

const ADMIN_KEY = 'bench-admin-key';
const usedMemory = async (redis: Redis) =>
  Number((await redis.info('memory')).match(/used_memory:(\d+)/)?.[1]);

/** Reads every stream as one group and acknowledges as it goes, until stopped. */
function startConsumer(redis: Redis, streams: string[]) {
  const reader = redis.duplicate();
  let stopped = false;
  let read = 0;
  const loop = (async () => {
    for (const stream of streams) {
      await reader.xgroup('CREATE', stream, 'bench', '0', 'MKSTREAM').catch(() => {});
    }
    while (!stopped) {
      const reply = (await reader.xreadgroup(
        'GROUP',
        'bench',
        'c1',
        'COUNT',
        1_000,
        'BLOCK',
        100,
        'STREAMS',
        ...streams,
        ...streams.map(() => '>'),
      )) as [string, [string, string[]][]][] | null;
      for (const [stream, entries] of reply ?? []) {
        if (entries.length === 0) continue;
        read += entries.length;
        await reader.xack(stream, 'bench', ...entries.map(([id]) => id));
      }
    }
  })();
  return {
    read: () => read,
    stop: async () => {
      stopped = true;
      await loop;
      reader.disconnect();
    },
  };
}

async function main() {
  const { values } = parseArgs({
    options: Object.fromEntries(Object.keys(Args.shape).map((k) => [k, { type: 'string' }])),
  });
  const args = Args.parse(values);
  const services = await startLocalServices({
    stateDir: localStateDir(`bench-memory-${process.pid}`),
    databaseUrl: process.env.DATABASE_URL,
    redisUrl: process.env.REDIS_URL,
    ephemeral: true,
  });
  process.env.DATABASE_URL = services.databaseUrl;
  const database = await createTestDatabase('bench_memory');
  const redis = new Redis(services.redisUrl);
  const apps: AppProcess[] = [];
  const results: Record<string, unknown>[] = [];
  try {
    say(`seeding ${args.memberships} memberships...`);
    const { tenantId } = await seedTenant(database.db, {
      tenantName: 'bench-memory',
      organizations: Math.max(1, Math.round(args.memberships / 100)),
      memberships: args.memberships,
      creditAllocations: 0,
      app: 'crm',
      seed: 3,
    });
    const streams = (['organizations', 'memberships'] as const).map((r) =>
      streamName(HISTORICAL_EVENT_TYPE[r], 'crm'),
    );
    let bytesPerEntry: number | undefined;

    for (const retention of [false, true]) {
      const mode = retention ? 'retention on' : 'retention off';
      await redis.flushall();
      const port = await findFreePort();
      const env = {
        ...process.env,
        DATABASE_URL: database.url,
        REDIS_URL: services.redisUrl,
        PORT: String(port),
        ADMIN_API_KEY: ADMIN_KEY,
        LOG_LEVEL: 'warn',
        BACKFILL_SOURCE_PROTECTION: 'off',
        STREAM_TRIM_INTERVAL_MS: String(args['trim-interval-ms']),
        RATE_LIMIT_PER_MINUTE: '100000000',
      };
      const api = startApp('api', env);
      const worker = startApp('worker', {
        ...env,
        WORKER_ROLES: `runs,credits,organizations,memberships${retention ? ',sweeper' : ''}`,
      });
      apps.push(api, worker);
      const base = `http://127.0.0.1:${port}`;
      const headers = { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' };
      await waitForOk(`${base}/health`, () => api.output());
      await fetch(`${base}/admin/organizations/${tenantId}/applications/crm/toggle`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ isEnabled: true, skipHistoricalSync: true }),
      });
      const consumer = startConsumer(redis, streams);
      const baseline = await usedMemory(redis);
      say(`${mode}: used_memory ${round(baseline / 1e6, 1)} MB before the first pass`);
      for (let pass = 1; pass <= args.passes; pass++) {
        const readBefore = consumer.read();
        const started = performance.now();
        const { runId } = (await (
          await fetch(`${base}/admin/organizations/${tenantId}/applications/crm/sync-historical`, {
            method: 'POST',
            headers,
            body: JSON.stringify({ syncCredits: false }),
          })
        ).json()) as { runId: string };
        let peak = 0;
        let status = '';
        let published = 0;
        for (;;) {
          peak = Math.max(peak, await usedMemory(redis));
          const run = (await (
            await fetch(`${base}/admin/organizations/${tenantId}/sync-runs/${runId}`, { headers })
          ).json()) as { status: string; published: number };
          ({ status, published } = run);
          if (status === 'completed' || status === 'failed') break;
          await sleep(200);
        }
        if (status !== 'completed') throw new Error(`run ${status}: ${worker.output()}`);
        const seconds = (performance.now() - started) / 1000;
        // The consumer has every entry of the pass (events and the run's markers).
        while (consumer.read() - readBefore < published + 4) {
          peak = Math.max(peak, await usedMemory(redis));
          await sleep(100);
        }
        if (pass === 1 && !retention) {
          let bytes = 0;
          let entries = 0;
          for (const stream of streams) {
            bytes += Number(await redis.memory('USAGE', stream, 'SAMPLES', 0));
            entries += await redis.xlen(stream);
          }
          bytesPerEntry = bytes / entries;
        }
        // A trim pass after the consumer caught up (retention on); the same wait without.
        await sleep(args['trim-interval-ms'] * 2 + 500);
        let entries = 0;
        for (const stream of streams) entries += await redis.xlen(stream);
        const after = await usedMemory(redis);
        const row = {
          mode,
          pass,
          events: published,
          eventsPerSecond: round(published / seconds),
          usedMemoryMb: round(after / 1e6, 1),
          peakMemoryMb: round(peak / 1e6, 1),
          streamEntries: entries,
        };
        results.push(row);
        say(
          `${mode} pass ${pass}: ${published} events at ${row.eventsPerSecond}/s; used_memory ${row.usedMemoryMb} MB after (peak ${row.peakMemoryMb} MB); ${entries} entries on the streams`,
        );
      }
      await consumer.stop();
      await Promise.all([api.stop(), worker.stop()]);
    }
    say(
      `bytes per entry in Redis (memberships and organizations streams, before any trim): ${round(bytesPerEntry ?? 0)}`,
    );
    say(
      JSON.stringify({
        memberships: args.memberships,
        bytesPerEntry: round(bytesPerEntry ?? 0),
        results,
      }),
    );
  } finally {
    await Promise.all(apps.map((app) => app.stop()));
    redis.disconnect();
    await database.destroy();
    await services.stop();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
