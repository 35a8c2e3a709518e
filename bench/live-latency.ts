/**
 * `npm run bench:live -- [--rate 200] [--seconds 10]`
 * Commit-to-XADD latency of live events at a steady write rate: organization updates go through
 * the domain service (row + outbox in one transaction); the relay publishes them. The latency of
 * an event is its stream entry's XADD time (the entry id's milliseconds, Redis's clock) minus the
 * moment its transaction's commit returned to the writer (same machine, same clock).
 * Two relays are measured in the same invocation on the same data:
 *   ours      LISTEN/NOTIFY wake-up (what the worker runs), polling only as a fallback;
 *   baseline  a polling relay (every RELAY_POLL_INTERVAL_MS, 1 s by default), no NOTIFY.
 */
import { parseArgs } from 'node:util';
import { streamName } from '@historical-sync/contracts';
import { createTestDatabase } from '@historical-sync/db/testing';
import { createOrganization, updateOrganization } from '@historical-sync/domain';
import { localStateDir, startLocalServices } from '@historical-sync/local-stack';
import { OutboxRelay } from '@historical-sync/relay';
import { Redis } from 'ioredis';
import { sql } from 'kysely';
import pino from 'pino';
import { z } from 'zod';

const Args = z.object({
  rate: z.coerce.number().int().min(1).max(5_000).default(200),
  seconds: z.coerce.number().min(1).max(600).default(10),
});

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}

async function main() {
  const { values } = parseArgs({
    options: { rate: { type: 'string' }, seconds: { type: 'string' } },
  });
  const args = Args.parse(values);
  const command = `npm run bench:live -- --rate ${args.rate} --seconds ${args.seconds}`;
  const services = await startLocalServices({
    stateDir: localStateDir(`bench-${process.pid}`),
    databaseUrl: process.env.DATABASE_URL,
    redisUrl: process.env.REDIS_URL,
    ephemeral: true,
  });
  process.env.DATABASE_URL = services.databaseUrl;
  const database = await createTestDatabase('bench_live');
  const redis = new Redis(services.redisUrl, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
  });
  const logger = pino({ level: 'warn' });
  const results: Record<
    string,
    { p50: number; p90: number; p99: number; max: number; events: number }
  > = {};

  try {
    const { db } = database;
    const tenantId = (
      await db
        .insertInto('tenants')
        .values({ name: 'bench' })
        .returning('id')
        .executeTakeFirstOrThrow()
    ).id;
    await sql`
      INSERT INTO organization_applications (tenant_id, application_id, is_enabled, enabled_at)
      SELECT ${tenantId}, id, true, now() FROM applications WHERE code = 'crm'
    `.execute(db);
    const orgs = [];
    for (let i = 0; i < 100; i++)
      orgs.push(await createOrganization(db, tenantId, { code: `o${i}`, name: `Org ${i}` }));

    for (const [name, useNotify] of [
      ['ours', true],
      ['baseline', false],
    ] as const) {
      await db
        .updateTable('outbox')
        .set({ published_at: new Date() })
        .where('published_at', 'is', null)
        .execute();
      const prefix = `bench-${name}-${Date.now()}:`;
      const relay = new OutboxRelay({
        db,
        redis,
        streamPrefix: prefix,
        logger,
        pollIntervalMs: 1_000,
        ...(useNotify ? { databaseUrl: database.url } : {}),
      });
      relay.start();
      await new Promise((resolve) => setTimeout(resolve, 500)); // listener connected, first poll done

      const committedAt = new Map<string, number>();
      const total = Math.round(args.rate * args.seconds);
      const intervalMs = 1_000 / args.rate;
      const started = performance.now();
      const inflight: Promise<void>[] = [];
      for (let i = 0; i < total; i++) {
        const due = started + i * intervalMs;
        const wait = due - performance.now();
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
        const org = orgs[i % orgs.length];
        if (!org) continue;
        inflight.push(
          updateOrganization(db, tenantId, org.id, { name: `Org ${i}` }).then((row) => {
            committedAt.set(`organization:${row.id}:v${row.version}`, Date.now());
          }),
        );
        if (inflight.length >= 50) await Promise.all(inflight.splice(0));
      }
      await Promise.all(inflight);
      const stream = streamName('org.updated', 'crm', prefix);
      const deadline = Date.now() + 30_000;
      while ((await redis.xlen(stream)) < total && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      await relay.stop();

      const latencies: number[] = [];
      for (const [id, fields] of await redis.xrange(stream, '-', '+')) {
        const event = JSON.parse(fields[1] as string) as { eventId: string };
        const commit = committedAt.get(event.eventId);
        if (commit !== undefined) latencies.push(Math.max(0, Number(id.split('-')[0]) - commit));
      }
      latencies.sort((a, b) => a - b);
      results[name] = {
        p50: percentile(latencies, 50),
        p90: percentile(latencies, 90),
        p99: percentile(latencies, 99),
        max: latencies[latencies.length - 1] ?? Number.NaN,
        events: latencies.length,
      };
      await redis.del(stream);
      const r = results[name];
      process.stdout.write(
        `${name.padEnd(8)} ${r.events} events at ${args.rate}/s: p50 ${r.p50} ms, p90 ${r.p90} ms, p99 ${r.p99} ms, max ${r.max} ms\n`,
      );
    }
  } finally {
    redis.disconnect();
    await database.destroy();
    await services.stop();
  }
  const ours = results.ours;
  const baseline = results.baseline;
  process.stdout.write(`command: ${command}\n`);
  process.stdout.write(
    `${JSON.stringify({ rate: args.rate, seconds: args.seconds, ours, baseline, p99Speedup: ours && baseline ? Number((baseline.p99 / Math.max(ours.p99, 1)).toFixed(1)) : null })}\n`,
  );
}

main().catch((error: unknown) => {
  process.stderr.write(`error: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
