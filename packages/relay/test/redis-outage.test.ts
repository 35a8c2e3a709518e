/**
 * Redis stopped while 1,000 writes happen: every write succeeds (the outbox is in Postgres), and
 * once Redis is back the relay delivers all 1,000 events, none lost.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { streamName } from '@historical-sync/contracts';
import { createTestDatabase, type TestDatabase } from '@historical-sync/db/testing';
import { addMembership } from '@historical-sync/domain';
import { type RunningService, startRedis } from '@historical-sync/local-stack';
import { Redis } from 'ioredis';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OutboxRelay } from '../src/index';
import {
  createOrganizations,
  createTenant,
  readEvents,
  setEnabled,
  unpublishedCount,
} from './helpers';

describe('relay through a Redis outage', () => {
  let test: TestDatabase;
  let dataDir: string;
  let server: RunningService | undefined;
  let redis: Redis;
  let relay: OutboxRelay;

  beforeAll(async () => {
    test = await createTestDatabase('redis_outage');
    dataDir = await mkdtemp(join(tmpdir(), 'relay-outage-'));
    server = await startRedis({ dataDir, appendOnly: true });
    redis = new Redis(server.url, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      retryStrategy: () => 100,
    });
    redis.on('error', () => {});
  });
  afterAll(async () => {
    await relay?.stop();
    redis.disconnect();
    await server?.stop();
    await rm(dataDir, { recursive: true, force: true });
    await test.destroy();
  });

  it('loses nothing', async () => {
    const tenantId = await createTenant(test.db, 'outage');
    await setEnabled(test.db, tenantId, 'crm', true);
    const [org] = await createOrganizations(test.db, tenantId, 1);
    if (!org) throw new Error('no org');
    const logLines: string[] = [];
    relay = new OutboxRelay({
      db: test.db,
      databaseUrl: test.url,
      redis,
      streamPrefix: '',
      logger: pino({ level: 'debug' }, { write: (line: string) => void logLines.push(line) }),
      pollIntervalMs: 100,
    });
    relay.start();
    await expect.poll(() => unpublishedCount(test.db), { timeout: 5_000 }).toBe(0);

    const port = Number(new URL(server?.url ?? '').port);
    await server?.stop();
    server = undefined;

    const writes = await Promise.allSettled(
      Array.from({ length: 1_000 }, () =>
        addMembership(test.db, tenantId, {
          userId: randomUUID(),
          organizationId: org.id,
          role: 'member',
        }),
      ),
    );
    expect(writes.filter((w) => w.status === 'fulfilled')).toHaveLength(1_000);
    await new Promise((resolve) => setTimeout(resolve, 500)); // the relay tries, and fails, meanwhile
    expect(await unpublishedCount(test.db)).toBe(1_000);

    server = await startRedis({ dataDir, appendOnly: true, preferredPort: port });
    expect(server.url).toBe(`redis://127.0.0.1:${port}`);
    await expect.poll(() => unpublishedCount(test.db), { timeout: 30_000, interval: 100 }).toBe(0);

    const events = await readEvents(redis, streamName('org.assignment.created', 'crm'));
    expect(events).toHaveLength(1_000);
    expect(new Set(events.map((e) => e.eventId)).size).toBe(1_000);
    // The organization's creation, relayed before the outage, survived it (AOF).
    expect(await redis.xlen(streamName('org.created', 'crm'))).toBe(1);
    // One warning for the outage however many retries it took, one line when it ended.
    const logged = logLines.map((line) => JSON.parse(line) as { level: number; msg: string });
    expect(logged.filter((l) => l.level >= 40).map((l) => l.msg)).toEqual([
      'relay batch failed; rolled back, retrying with backoff until it succeeds',
    ]);
    expect(logged.filter((l) => l.msg === 'relay publishing again')).toHaveLength(1);
    expect(logged.filter((l) => l.msg === 'relay batch failed again').length).toBeGreaterThan(0);
  });
});
