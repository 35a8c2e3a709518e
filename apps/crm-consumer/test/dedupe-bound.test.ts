/**
 * The CRM's dedupe ids stay within their bound over a long run: a consumer applies a stream of
 * thousands of events while the pruner keeps only the ids of the last `RETENTION_MS`; the table
 * never holds more than the ids recorded in the last retention plus one prune interval, and an
 * event re-delivered after its id was pruned still changes nothing (the apply is version-gated).
 *
 * "Long" is measured in time, not in events: a run shorter than one retention window would let
 * the table hold every id without any pruning at all. So the events arrive in `CHUNKS` bursts,
 * each published `GAP_MS` after the previous burst was fully applied, however fast or slow the
 * machine applies them; the run always spans several retention windows.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { StreamConsumer } from '@historical-sync/consumer';
import { startDedupePruning } from '@historical-sync/consumer/postgres';
import { EVENT_FIELD, type StreamEvent } from '@historical-sync/contracts';
import { createPool, runMigrations } from '@historical-sync/db';
import { createTestDatabase, type TestDatabase } from '@historical-sync/db/testing';
import { Redis } from 'ioredis';
import { Kysely, PostgresDialect } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { crmMigrations } from '../migrations/index';
import { applyEvent } from '../src/projection';
import type { CrmDatabase, CrmDb } from '../src/schema';

const EVENTS = Number(process.env.DEDUPE_BOUND_EVENTS ?? 6_000);
const RETENTION_MS = 1_000;
const PRUNE_INTERVAL_MS = 250;
// A prune's own duration and the gap between a commit and the handler's return, on a busy machine.
const SLACK_MS = 1_000;
const CONCURRENCY = 8;
const CHUNKS = 6;
const CHUNK = Math.ceil(EVENTS / CHUNKS);
// Longer than any sample's window (retention + interval + slack, see `since` below) by a margin
// for the count query's own duration, so that a window overlaps at most two bursts.
const GAP_MS = RETENTION_MS + PRUNE_INTERVAL_MS + SLACK_MS + 1_000;

describe('CRM dedupe store', () => {
  let test: TestDatabase;
  let db: CrmDb;
  let redis: Redis;
  const stream = `t${randomBytes(4).toString('hex')}:crm:sync:organization:org_updated`;
  const tenantId = randomUUID();
  const at = new Date().toISOString();

  beforeAll(async () => {
    test = await createTestDatabase('crm_dedupe', { migrate: false });
    db = new Kysely<CrmDatabase>({
      dialect: new PostgresDialect({
        pool: createPool({ connectionString: test.url, maxConnections: 10 }),
      }),
    });
    await runMigrations(db, crmMigrations);
    redis = new Redis(process.env.REDIS_URL as string);
  });
  afterAll(async () => {
    await redis.del(stream);
    redis.disconnect();
    await db.destroy();
    await test.destroy();
  });

  const orgs = Array.from({ length: 200 }, () => randomUUID());
  const event = (n: number) => {
    const entityId = orgs[n % orgs.length] as string;
    const version = Math.floor(n / orgs.length) + 1;
    return {
      eventId: `organization:${entityId}:v${version}`,
      eventType: 'org.updated',
      tenantId,
      version,
      occurredAt: at,
      runId: null,
      entityId,
      code: `org-${n % orgs.length}`,
      name: `v${version}`,
      description: null,
      industry: null,
      website: null,
      parentId: null,
      isActive: true,
      metadata: { targetApplication: 'crm', isHistoricalSync: false, originalCreatedAt: at },
    };
  };

  it(`stays within retention + prune interval over ${EVENTS} events`, {
    timeout: 180_000,
  }, async () => {
    // When each id was recorded (every outcome but a duplicate records one).
    const appliedAt: number[] = [];
    let handled = 0;
    const consumer = new StreamConsumer({
      redis,
      streams: [stream],
      group: 'crm',
      consumer: 'dedupe-bound',
      concurrency: CONCURRENCY,
      batchSize: 200,
      blockMs: 100,
      handler: async (e) => {
        const outcome = await applyEvent(db, e, 'crm');
        if (outcome.kind !== 'duplicate') appliedAt.push(Date.now());
        handled += 1;
      },
    });
    const pruning = startDedupePruning({
      db,
      table: 'crm_processed_events',
      retentionMs: RETENTION_MS,
      intervalMs: PRUNE_INTERVAL_MS,
    });
    await consumer.start();
    // Publishes burst k once burst k - 1 is applied and GAP_MS has passed since its last apply.
    const publishing = (async () => {
      for (let n = 0; n < EVENTS; n += CHUNK) {
        if (n > 0) {
          await expect.poll(() => handled, { timeout: 120_000, interval: 20 }).toBe(n);
          await new Promise((resolve) => setTimeout(resolve, GAP_MS));
        }
        const pipeline = redis.pipeline();
        for (let i = n; i < Math.min(EVENTS, n + CHUNK); i++)
          pipeline.xadd(stream, '*', EVENT_FIELD, JSON.stringify(event(i)));
        await pipeline.exec();
      }
    })();
    let publishFailed = false;
    publishing.catch(() => {
      publishFailed = true;
    });
    const samples: { held: number; allowed: number }[] = [];
    try {
      while (handled < EVENTS && !publishFailed) {
        const before = Date.now();
        const { n } = await db
          .selectFrom('crm_processed_events')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .executeTakeFirstOrThrow();
        const after = Date.now();
        // Ids recorded since (before - retention - interval - slack), up to now, and those
        // committed by handlers that have not returned yet (at most `concurrency`).
        const since = before - RETENTION_MS - PRUNE_INTERVAL_MS - SLACK_MS;
        const allowed =
          appliedAt.filter((t) => t >= since && t <= after + SLACK_MS).length + CONCURRENCY;
        samples.push({ held: Number(n), allowed });
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      await publishing;
    } finally {
      await consumer.stop();
    }
    const over = samples.filter((s) => s.held > s.allowed);
    expect(over).toEqual([]);
    // The bound did its work: at its largest the table held a fraction of the events applied.
    // Why two bursts: bursts are applied at least GAP_MS apart, longer than any sample's window,
    // so a window holds the ids of at most two bursts (plus the handlers in flight); a table that
    // was not pruned during the run would hold every burst applied so far. This does not depend
    // on how fast the machine applies events, only on the pruning keeping to its window.
    const largest = Math.max(...samples.map((s) => s.held));
    expect(samples.length).toBeGreaterThan(5);
    console.log(
      `dedupe store: ${EVENTS} events in ${CHUNKS} bursts, ${samples.length} samples, at most ${largest} ids held (retention ${RETENTION_MS} ms, pruned every ${PRUNE_INTERVAL_MS} ms)`,
    );
    expect(largest).toBeLessThanOrEqual(2 * CHUNK + CONCURRENCY);
    expect(largest).toBeLessThan(EVENTS / 2);
    // Everything older than the retention goes at the next prunes.
    await expect
      .poll(
        async () =>
          Number(
            (
              await db
                .selectFrom('crm_processed_events')
                .select((eb) => eb.fn.countAll<number>().as('n'))
                .executeTakeFirstOrThrow()
            ).n,
          ),
        { timeout: 10_000 },
      )
      .toBe(0);
    await pruning.stop();

    // A re-delivery after its id was pruned: stale, nothing changes. Within the retention: duplicate.
    const first = event(0);
    expect(await applyEvent(db, first as StreamEvent, 'crm')).toEqual({ kind: 'stale' });
    const row = await db
      .selectFrom('crm_organizations')
      .selectAll()
      .where('id', '=', first.entityId)
      .executeTakeFirstOrThrow();
    expect(row.version).toBe(Math.floor((EVENTS - 1) / orgs.length) + 1);
    const fresh = {
      ...event(0),
      version: 10_000,
      eventId: `organization:${first.entityId}:v10000`,
    };
    expect(await applyEvent(db, fresh as StreamEvent, 'crm')).toEqual({ kind: 'applied' });
    expect(await applyEvent(db, fresh as StreamEvent, 'crm')).toEqual({ kind: 'duplicate' });
  });
});
