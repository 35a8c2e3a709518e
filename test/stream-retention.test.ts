/**
 * Redis stays bounded, end to end, as separate processes (API, worker, CRM consumer) on a Redis of
 * their own (its memory is what is measured, so no other suite may share it):
 *
 * - one tenant backfilled again and again with the CRM consumer caught up: the application's
 *   streams and Redis's `used_memory` stay flat, while a consumer group created before a pass that
 *   never reads still finds every entry of that pass;
 * - under a small `maxmemory`: a backfill parks before Redis refuses writes, and completes exactly
 *   once; with Redis refusing writes for memory, pause, resume, cancel and disable still answer and
 *   hold.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lastRetentionPass } from '@historical-sync/backfill';
import { applicationDrained } from '@historical-sync/backfill/testing';
import { applicationStreams } from '@historical-sync/contracts';
import { seedTenant } from '@historical-sync/db';
import { createTestDatabase, type TestDatabase } from '@historical-sync/db/testing';
import { findFreePort, type RunningService, startRedis } from '@historical-sync/local-stack';
import { Redis } from 'ioredis';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Command, callApi, killCommand, runApp, waitForApi } from './helpers';

const ADMIN_KEY = 'retention-admin-key';
const QUEUE_PREFIX = 'hsret';
const PASSES = 4;

describe('streams stay bounded (API, worker and CRM consumer processes)', () => {
  let server: RunningService;
  let redis: Redis;
  let wrapper: TestDatabase;
  let crm: TestDatabase;
  const commands: Command[] = [];
  let worker: Command;
  let apiUrl: string;
  let tenantId: string;
  /** Redis memory one whole pass of the tenant takes (measured by the first test). */
  let passBytes = 0;

  beforeAll(async () => {
    server = await startRedis({
      dataDir: await mkdtemp(join(tmpdir(), 'redis-retention-')),
      appendOnly: false,
    });
    redis = new Redis(server.url);
    wrapper = await createTestDatabase('retention');
    crm = await createTestDatabase('retention_crm', { migrate: false });
    const port = await findFreePort();
    apiUrl = `http://127.0.0.1:${port}`;
    const env = {
      ...process.env,
      DATABASE_URL: wrapper.url,
      CRM_DATABASE_URL: crm.url,
      REDIS_URL: server.url,
      QUEUE_PREFIX,
      BACKFILL_PAGE_SIZE: '200',
      BACKFILL_SOURCE_PROTECTION: 'off',
      PORT: String(port),
      ADMIN_API_KEY: ADMIN_KEY,
      LOG_LEVEL: 'info',
      STREAM_TRIM_INTERVAL_MS: '200',
      SWEEP_INTERVAL_MS: '500',
      SWEEP_QUEUED_AFTER_MS: '1000',
      CRM_CLAIM_IDLE_MS: '2000',
    };
    const api = runApp('api', env);
    worker = runApp('worker', env);
    commands.push(api, worker, runApp('crm-consumer', env));
    await waitForApi(apiUrl, api, 30_000);
    ({ tenantId } = await seedTenant(wrapper.db, {
      tenantName: 'retention',
      organizations: 300,
      memberships: 6_000,
      creditAllocations: 600,
      app: 'crm',
      seed: 19,
    }));
  });
  afterAll(async () => {
    await redis.config('SET', 'maxmemory', '0').catch(() => {});
    for (const command of commands) await killCommand(command);
    redis.disconnect();
    await server.stop();
    await crm.destroy();
    await wrapper.destroy();
  });

  const call = (method: string, path: string, body?: object) =>
    callApi(apiUrl, ADMIN_KEY, method, path, body);
  const streams = () => applicationStreams('crm');
  const totalLength = async () => {
    let total = 0;
    for (const stream of streams()) total += await redis.xlen(stream);
    return total;
  };
  const usedMemory = async () =>
    Number(/used_memory:(\d+)/.exec(await redis.info('memory'))?.[1] ?? Number.NaN);
  /** What a complete run publishes for the tenant, by SQL: its rows plus one start and one end marker per resource. */
  const eventsPerRun = async () => {
    const { rows } = await sql<{ n: number }>`
      SELECT (SELECT count(*) FROM entities WHERE tenant_id = ${tenantId} AND entity_type = 'organization')
        + (SELECT count(*) FROM organization_memberships WHERE tenant_id = ${tenantId} AND is_active)
        + (SELECT count(*) FROM credit_allocations WHERE tenant_id = ${tenantId} AND target_application = 'crm' AND is_active)
        AS n
    `.execute(wrapper.db);
    return Number(rows[0]?.n) + 6;
  };

  const sync = async () => {
    const started = await call(
      'POST',
      `/admin/organizations/${tenantId}/applications/crm/sync-historical`,
      {},
    );
    expect(started.status, JSON.stringify(started.json)).toBe(202);
    return started.json.runId as string;
  };
  /** The run is complete and the CRM's group has every entry of the streams acknowledged. */
  const crmCaughtUp = async (runId: string) => {
    const state = await applicationDrained(wrapper.db, redis, {
      tenantId,
      runId,
      appCode: 'crm',
      streamPrefix: '',
    });
    if (state.startsWith('run ') || state.startsWith('outbox')) return state;
    for (const stream of streams()) {
      // A stream the consumer has not created yet has no group to be caught up.
      const groups = (await redis.xinfo('GROUPS', stream).catch(() => null)) as unknown[][] | null;
      if (!groups) return `${stream} missing`;
      for (const fields of groups) {
        const info = Object.fromEntries(
          Array.from({ length: fields.length / 2 }, (_, i) => [fields[2 * i], fields[2 * i + 1]]),
        );
        if (info.name === 'crm' && (Number(info.lag ?? 0) > 0 || Number(info.pending) > 0))
          return `${stream} lag ${info.lag} pending ${info.pending}`;
      }
    }
    return 'caught up';
  };
  const caughtUp = (runId: string) =>
    expect
      .poll(() => crmCaughtUp(runId), { timeout: 60_000, interval: 100 })
      .toBe('caught up')
      .catch((error: Error) => {
        throw new Error(`${error.message}\nworker:\n${worker.output().slice(-4000)}`);
      });
  /** A trim pass has run after this moment. */
  const trimmedSince = async (since: number) =>
    expect
      .poll(async () => (await lastRetentionPass(redis, QUEUE_PREFIX))?.at ?? 0, {
        timeout: 20_000,
        interval: 100,
      })
      .toBeGreaterThan(since);

  it('keeps the streams and used_memory flat over repeated backfills, and never trims what a group has not read', async () => {
    const enabled = await call('POST', `/admin/organizations/${tenantId}/applications/crm/toggle`, {
      isEnabled: true,
    });
    expect(enabled.status).toBe(200);
    let runId = enabled.json.runId as string;
    const perRun = await eventsPerRun();
    const lengths: number[] = [];
    const memory: number[] = [];
    for (let pass = 1; pass <= PASSES; pass++) {
      if (pass > 1) runId = await sync();
      await caughtUp(runId);
      await trimmedSince(Date.now());
      lengths.push(await totalLength());
      memory.push(await usedMemory());
    }
    // Each stream keeps at most its last macro node (100 entries) of a pass it has finished.
    for (const length of lengths)
      expect(length).toBeLessThan(Math.min(perRun, streams().length * 100));
    expect(memory[PASSES - 1]).toBeLessThan((memory[0] as number) * 1.5);

    // A group that never reads, created before a pass, finds every entry of that pass.
    for (const stream of streams())
      await redis.xgroup('CREATE', stream, 'never-reads', '$', 'MKSTREAM');
    const pinned = await sync();
    await caughtUp(pinned);
    await trimmedSince(Date.now());
    // What one pass holds in Redis while a group keeps it: the room the next test sizes from.
    passBytes = (await usedMemory()) - (memory[PASSES - 1] as number);
    let found = 0;
    for (const stream of streams()) {
      const read = (await redis.xreadgroup(
        'GROUP',
        'never-reads',
        'late',
        'COUNT',
        1_000_000,
        'STREAMS',
        stream,
        '>',
      )) as [string, [string, string[]][]][] | null;
      for (const [, fields] of read?.[0]?.[1] ?? []) {
        if ((JSON.parse(fields[1] as string) as { runId?: string }).runId === pinned) found += 1;
      }
    }
    expect(found).toBe(perRun);
    for (const stream of streams()) await redis.xgroup('DESTROY', stream, 'never-reads');
  }, 180_000);

  /**
   * Reads every stream as group `audit`, acknowledging as it goes; counts each run's entries.
   * With `holdUntil`, the group exists from the start but reads nothing until it answers true:
   * until then nothing published can be trimmed.
   */
  function startAudit(holdUntil?: () => boolean) {
    const reader = redis.duplicate();
    const counts = new Map<string, number>();
    const eventIds = new Map<string, Set<string>>();
    /** Where each run's entries are. */
    const seen = new Map<string, { stream: string; id: string }[]>();
    let stopped = false;
    const loop = (async () => {
      for (const stream of streams())
        await reader.xgroup('CREATE', stream, 'audit', '$', 'MKSTREAM');
      while (holdUntil && !holdUntil() && !stopped)
        await new Promise((resolve) => setTimeout(resolve, 50));
      while (!stopped) {
        const read = (await reader.xreadgroup(
          'GROUP',
          'audit',
          'a',
          'COUNT',
          100,
          'BLOCK',
          100,
          'STREAMS',
          ...streams(),
          ...streams().map(() => '>'),
        )) as [string, [string, string[]][]][] | null;
        for (const [stream, entries] of read ?? []) {
          for (const [id, fields] of entries) {
            const event = JSON.parse(fields[1] as string) as { runId?: string; eventId: string };
            const runId = event.runId ?? 'live';
            counts.set(runId, (counts.get(runId) ?? 0) + 1);
            const where = seen.get(runId) ?? [];
            where.push({ stream, id });
            seen.set(runId, where);
            const ids = eventIds.get(runId) ?? new Set<string>();
            ids.add(event.eventId);
            eventIds.set(runId, ids);
          }
          if (entries.length) await reader.xack(stream, 'audit', ...entries.map(([id]) => id));
        }
      }
    })();
    return {
      counts,
      eventIds,
      seen,
      stop: async () => {
        stopped = true;
        await loop;
        for (const stream of streams()) await reader.xgroup('DESTROY', stream, 'audit');
        reader.disconnect();
      },
    };
  }

  const oomErrors = async () =>
    Number(/errorstat_OOM:count=(\d+)/.exec(await redis.info('errorstats'))?.[1] ?? 0);
  /** Fills Redis past its maxmemory, so it refuses writes; returns the undo. */
  async function fillRedis() {
    // Small keys: a big one would count its own query buffer and be refused before it lands.
    const chunk = Buffer.alloc(32_000, 1);
    let keys = 0;
    for (;;) {
      const refused = await redis.set(`filler:${keys}`, chunk).then(
        () => false,
        (error: Error) => /OOM/.test(error.message),
      );
      if (refused) break;
      keys += 1;
    }
    return async () => {
      for (let i = 0; i < keys; i += 500) {
        await redis.del(
          ...Array.from({ length: Math.min(500, keys - i) }, (_, j) => `filler:${i + j}`),
        );
      }
      await expect.poll(async () => redis.set('probe', 'x'), { timeout: 10_000 }).toBe('OK');
    };
  }
  /** The newest entry id of each stream now. */
  const lastIds = async () => {
    const ids: Record<string, string> = {};
    for (const stream of streams()) {
      ids[stream] = (await redis.xrevrange(stream, '+', '-', 'COUNT', 1))[0]?.[0] ?? '0-0';
    }
    return ids;
  };
  const after = (id: string, than: string) => {
    const [ms, seq] = id.split('-').map(Number) as [number, number];
    const [thanMs, thanSeq] = than.split('-').map(Number) as [number, number];
    return ms > thanMs || (ms === thanMs && seq > thanSeq);
  };
  const runStatus = async (runId: string) =>
    (await call('GET', `/admin/organizations/${tenantId}/sync-runs/${runId}`)).json.status;
  const control = (runId: string, action: string) =>
    call('POST', `/admin/organizations/${tenantId}/sync-runs/${runId}/${action}`, {});

  it('parks a backfill before Redis refuses writes; out of memory, controls still answer and hold', async () => {
    const perRun = await eventsPerRun();
    // The previous test's last pass was held by a group it then destroyed: once a trim pass has
    // freed it, memory is what it stays at. Measured before that, the room set below would grow
    // by a whole run's entries when the trim lands, and the run would not need to wait.
    await trimmedSince(Date.now());
    await expect
      .poll(totalLength, { timeout: 20_000, interval: 100 })
      .toBeLessThan(streams().length * 100);
    expect(passBytes).toBeGreaterThan(0);
    // The audit group reads nothing until the worker has parked for memory, so nothing of the
    // run can be trimmed before it must wait: the park does not depend on how fast the consumers
    // and the trim are on this machine. Then it reads, the trim frees, and the run goes on.
    const audit = startAudit(() => /waiting for Redis's memory/.test(worker.output()));
    try {
      await redis.config('RESETSTAT');
      // The high mark (80% of maxmemory) three quarters of a run above what Redis holds now:
      // the run must wait for the consumers and the trim, and fits once they have freed it.
      const settled = await usedMemory();
      const highMark = settled + 0.75 * passBytes;
      await redis.config('SET', 'maxmemory', String(Math.round(highMark / 0.8)));
      const parked = await sync();
      await caughtUp(parked);
      await expect.poll(() => audit.counts.get(parked) ?? 0, { timeout: 20_000 }).toBe(perRun);
      expect(audit.eventIds.get(parked)?.size).toBe(perRun); // every entry once
      expect(worker.output()).toMatch(/waiting for Redis's memory/);
      const rejected = (await redis.info('commandstats'))
        .split('\n')
        .filter((line) => /rejected_calls=[1-9]/.test(line));
      expect(await oomErrors(), rejected.join('\n')).toBe(0);

      // Out of memory: pause, resume and cancel answer, and the cancel holds.
      const stopped = await call(
        'POST',
        `/admin/organizations/${tenantId}/applications/crm/sync-historical`,
        { maxEventsPerSecond: 300 },
      );
      const cancelledRun = stopped.json.runId as string;
      await expect.poll(() => runStatus(cancelledRun), { timeout: 20_000 }).toBe('running');
      let unfill = await fillRedis();
      expect((await control(cancelledRun, 'pause')).status).toBe(200);
      expect((await control(cancelledRun, 'resume')).status).toBe(200);
      expect((await control(cancelledRun, 'cancel')).status).toBe(200);
      const atCancel = await lastIds();
      await unfill();
      expect(await runStatus(cancelledRun)).toBe('cancelled');

      // Out of memory: a disable answers and holds.
      const disabledRun = await sync();
      await expect.poll(() => runStatus(disabledRun), { timeout: 20_000 }).toBe('running');
      unfill = await fillRedis();
      const disabled = await call(
        'POST',
        `/admin/organizations/${tenantId}/applications/crm/toggle`,
        {
          isEnabled: false,
        },
      );
      expect(disabled.status).toBe(200);
      const atDisable = await lastIds();
      await unfill();
      expect(await runStatus(disabledRun)).toBe('cancelled');

      // Nothing of either reaches a stream after its answer, once Redis takes writes again: a new
      // enable's run completes (its jobs went through the same queues), then the counts are read.
      const enabled = await call(
        'POST',
        `/admin/organizations/${tenantId}/applications/crm/toggle`,
        {
          isEnabled: true,
        },
      );
      const last = enabled.json.runId as string;
      await caughtUp(last);
      await expect.poll(() => audit.counts.get(last) ?? 0, { timeout: 20_000 }).toBe(perRun);
      const afterAnswer = (runId: string, at: Record<string, string>) =>
        (audit.seen.get(runId) ?? []).filter((e) => after(e.id, at[e.stream] ?? '0-0'));
      expect(afterAnswer(cancelledRun, atCancel)).toEqual([]);
      expect(afterAnswer(disabledRun, atDisable)).toEqual([]);
    } finally {
      await audit.stop();
      await redis.config('SET', 'maxmemory', '0');
    }
  }, 180_000);
});
