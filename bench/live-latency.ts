/**
 * `npm run bench:live -- [--rate 200] [--seconds 10] [--bulk 50000]`
 * Commit-to-XADD latency of live events at a steady write rate: organization updates go through
 * the domain service (the row change; the capture trigger writes the outbox row in the same
 * transaction); the relay publishes them. The latency of an event is its stream entry's XADD time
 * (the entry id's milliseconds, Redis's clock) minus the moment its transaction's commit returned
 * to the writer (same machine, same clock).
 * Two relays are measured in the same invocation on the same data:
 *   ours      LISTEN/NOTIFY wake-up (what the worker runs), polling only as a fallback;
 *   baseline  a polling relay (every RELAY_POLL_INTERVAL_MS, 1 s by default), no NOTIFY.
 * Then the cost of capture per write, with the capture triggers enabled and disabled, alternated
 * twice on the same database: one writer's update latency through the service, 8 writers'
 * throughput, and a bulk INSERT of `--bulk` memberships in one statement.
 */
import { parseArgs } from 'node:util';
import { streamName } from '@historical-sync/contracts';
import type { Db } from '@historical-sync/db';
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
  bulk: z.coerce.number().int().min(1).max(5_000_000).default(50_000),
});

const CAPTURE_TRIGGERS = {
  entities: ['entities_capture_insert', 'entities_capture_update'],
  organization_memberships: [
    'organization_memberships_capture_insert',
    'organization_memberships_capture_update',
  ],
  credit_allocations: ['credit_allocations_capture_insert', 'credit_allocations_capture_update'],
};

async function setCapture(db: Db, on: boolean) {
  for (const [table, triggers] of Object.entries(CAPTURE_TRIGGERS)) {
    for (const trigger of triggers) {
      await sql`ALTER TABLE ${sql.table(table)} ${sql.raw(on ? 'ENABLE ALWAYS' : 'DISABLE')} TRIGGER ${sql.id(trigger)}`.execute(
        db,
      );
    }
  }
}

interface WriteCost {
  /** One writer, one update after the other through the service: ms per write. */
  p50: number;
  p99: number;
  /** 8 writers at once, as fast as they go. */
  writesPerSecond: number;
  /** One INSERT ... SELECT of `bulk` memberships. */
  bulkRowsPerSecond: number;
}

async function measureWriteCost(
  db: Db,
  tenantId: string,
  orgs: Array<{ id: string }>,
  bulk: number,
): Promise<WriteCost> {
  const single: number[] = [];
  for (let i = 0; i < 1_000; i++) {
    const org = orgs[i % orgs.length] as { id: string };
    const started = performance.now();
    await updateOrganization(db, tenantId, org.id, { name: `Cost ${i}` });
    single.push(performance.now() - started);
  }
  single.sort((a, b) => a - b);
  let writes = 0;
  const until = performance.now() + 3_000;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: 8 }, async (_, writer) => {
      // Each writer its own organizations: the figure is the write's cost, not lock waits.
      for (let i = 0; performance.now() < until; i++) {
        const org = orgs[(writer + 8 * i) % orgs.length] as { id: string };
        await updateOrganization(db, tenantId, org.id, { name: `Load ${writer} ${i}` });
        writes += 1;
      }
    }),
  );
  const writesPerSecond = writes / ((performance.now() - started) / 1000);
  const bulkStarted = performance.now();
  await sql`
    INSERT INTO organization_memberships (tenant_id, user_id, organization_id, role)
    SELECT ${tenantId}, gen_random_uuid(), ${orgs[0]?.id}, 'bulk' FROM generate_series(1, ${bulk})
  `.execute(db);
  const bulkRowsPerSecond = bulk / ((performance.now() - bulkStarted) / 1000);
  return {
    p50: Number(percentile(single, 50).toFixed(2)),
    p99: Number(percentile(single, 99).toFixed(2)),
    writesPerSecond: Math.round(writesPerSecond),
    bulkRowsPerSecond: Math.round(bulkRowsPerSecond),
  };
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}

async function main() {
  const { values } = parseArgs({
    options: { rate: { type: 'string' }, seconds: { type: 'string' }, bulk: { type: 'string' } },
  });
  const args = Args.parse(values);
  const command = `npm run bench:live -- --rate ${args.rate} --seconds ${args.seconds} --bulk ${args.bulk}`;
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
  const writeCosts: Record<string, WriteCost> = {};

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

    // The cost of capture per write: the same writes with the capture triggers off and on,
    // alternated so that neither gets a warmer cache or a larger table.
    const costs: Record<'withoutCapture' | 'withCapture', WriteCost[]> = {
      withoutCapture: [],
      withCapture: [],
    };
    for (let round = 0; round < 2; round++) {
      for (const on of [false, true]) {
        await setCapture(db, on);
        costs[on ? 'withCapture' : 'withoutCapture'].push(
          await measureWriteCost(db, tenantId, orgs, args.bulk),
        );
      }
    }
    await setCapture(db, true);
    const mean = (list: WriteCost[], key: keyof WriteCost) =>
      Number((list.reduce((sum, c) => sum + c[key], 0) / list.length).toFixed(2));
    for (const [name, list] of Object.entries(costs)) {
      const cost = {
        p50: mean(list, 'p50'),
        p99: mean(list, 'p99'),
        writesPerSecond: Math.round(mean(list, 'writesPerSecond')),
        bulkRowsPerSecond: Math.round(mean(list, 'bulkRowsPerSecond')),
      };
      writeCosts[name] = cost;
      process.stdout.write(
        `${name.padEnd(15)} one writer: p50 ${cost.p50} ms, p99 ${cost.p99} ms a write; 8 writers: ${cost.writesPerSecond} writes/s; bulk INSERT of ${args.bulk}: ${cost.bulkRowsPerSecond} rows/s\n`,
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
    `${JSON.stringify({ rate: args.rate, seconds: args.seconds, ours, baseline, p99Speedup: ours && baseline ? Number((baseline.p99 / Math.max(ours.p99, 1)).toFixed(1)) : null, writeCost: writeCosts })}\n`,
  );
}

main().catch((error: unknown) => {
  process.stderr.write(`error: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
