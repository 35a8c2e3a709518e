import { randomUUID } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRedis } from '@historical-sync/local-stack';
import calculateSlot from 'cluster-key-slot';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  checkpointKey,
  controlKey,
  pageCommands,
  publishPage,
  readCheckpoint,
} from '../src/publish/publisher';
import { raiseRunBarrier } from '../src/publish/run-barrier';

describe('publishPage', () => {
  let redis: Redis;
  const prefix = `t${randomUUID().slice(0, 8)}:`;
  beforeAll(() => {
    redis = new Redis(process.env.REDIS_URL as string);
  });
  afterAll(async () => {
    const keys = await redis.keys(`*${prefix}*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
  });

  const page = (
    stream: string,
    key: string,
    expectedCursor: string,
    nextCursor: string,
    n: number,
    runId = 'run-1',
  ) => ({
    runId,
    checkpointKey: key,
    stream,
    expectedCursor,
    nextCursor,
    ...pageCommands(
      stream,
      Array.from({ length: n }, (_, i) => JSON.stringify({ n: i, page: nextCursor })),
    ),
  });

  it('adds every event of a page and advances the checkpoint in one step', async () => {
    const stream = `${prefix}crm:sync:organization:org_created`;
    const key = checkpointKey(stream, 'run-1', 'organizations');
    expect(await readCheckpoint(redis, key)).toEqual({ cursor: '', published: 0 });

    const first = await publishPage(redis, page(stream, key, '', 'id-100', 100));
    expect(first).toEqual({ outcome: 'published', cursor: 'id-100', published: 100 });
    const second = await publishPage(redis, page(stream, key, 'id-100', 'id-150', 50));
    expect(second).toEqual({ outcome: 'published', cursor: 'id-150', published: 150 });
    expect(await redis.xlen(stream)).toBe(150);
    expect(await readCheckpoint(redis, key)).toEqual({ cursor: 'id-150', published: 150 });
    expect(await redis.pttl(key)).toBeGreaterThan(0);
  });

  it('publishes nothing when the expected checkpoint is stale (a zombie attempt)', async () => {
    const stream = `${prefix}credit-events`;
    const key = checkpointKey(stream, 'run-2', 'credits');
    await publishPage(redis, page(stream, key, '', 'id-10', 10));
    await publishPage(redis, page(stream, key, 'id-10', 'id-20', 10));

    // A worker that still believes the checkpoint is at id-10 tries to publish id-11..id-20 again.
    const zombie = await publishPage(redis, page(stream, key, 'id-10', 'id-20', 10));
    expect(zombie).toEqual({ outcome: 'stale', cursor: 'id-20', published: 20 });
    expect(await redis.xlen(stream)).toBe(20);
    expect(await readCheckpoint(redis, key)).toEqual({ cursor: 'id-20', published: 20 });
  });

  it("holds a page back while a consumer group is over the backlog bound, read in the page's own round trip", async () => {
    const stream = `${prefix}crm:sync:organization:flow`;
    const key = checkpointKey(stream, 'run-f', 'organizations');
    const bounded = (expected: string, next: string, n: number) => ({
      ...page(stream, key, expected, next, n, 'run-f'),
      maxBacklog: 15,
    });
    // No stream yet, so no group: nothing to wait for.
    expect((await publishPage(redis, bounded('', 'id-10', 10))).outcome).toBe('published');
    // A group that has read nothing: 10 entries to read, under the bound of 15.
    await redis.xgroup('CREATE', stream, 'slow-app', '0');
    expect((await publishPage(redis, bounded('id-10', 'id-20', 10))).outcome).toBe('published');
    // Now 20 > 15: the page is refused, nothing added, the checkpoint where it was.
    expect(await publishPage(redis, bounded('id-20', 'id-30', 10))).toEqual({
      outcome: 'backlog',
      backlog: 20,
    });
    expect(await redis.xlen(stream)).toBe(20);
    expect(await readCheckpoint(redis, key)).toEqual({ cursor: 'id-20', published: 20 });
    // Read and acknowledged: 0 left, and the page goes out.
    const read = (await redis.xreadgroup('GROUP', 'slow-app', 'c', 'STREAMS', stream, '>')) as [
      string,
      [string, string[]][],
    ][];
    const ids = read[0]?.[1].map(([id]) => id) ?? [];
    expect(ids).toHaveLength(20);
    await redis.xack(stream, 'slow-app', ...ids);
    expect((await publishPage(redis, bounded('id-20', 'id-30', 10))).outcome).toBe('published');
    expect(await redis.xlen(stream)).toBe(30);
  });

  it('refuses every page of a run whose control key says paused or cancelled', async () => {
    const stream = `${prefix}crm:sync:organization:assignment_created`;
    const key = checkpointKey(stream, 'run-3', 'memberships');
    const barrier = { redis, streamPrefix: prefix };
    const run = { id: 'run-3', appCode: 'crm', resources: ['memberships'] as const };
    await publishPage(redis, page(stream, key, '', 'id-10', 10, 'run-3'));

    await raiseRunBarrier(barrier, run, 5, 'paused');
    expect(await publishPage(redis, page(stream, key, 'id-10', 'id-20', 10, 'run-3'))).toEqual({
      outcome: 'stopped',
      control: { state: 'paused', seq: 5 },
    });
    // An older control arriving late (seq 4) changes nothing; a newer one does.
    await raiseRunBarrier(barrier, run, 4, 'open');
    expect(
      (await publishPage(redis, page(stream, key, 'id-10', 'id-20', 10, 'run-3'))).outcome,
    ).toBe('stopped');
    await raiseRunBarrier(barrier, run, 6, 'open');
    expect(
      (await publishPage(redis, page(stream, key, 'id-10', 'id-20', 10, 'run-3'))).outcome,
    ).toBe('published');
    await raiseRunBarrier(barrier, run, 7, 'cancelled');
    expect(await publishPage(redis, page(stream, key, 'id-20', 'id-30', 10, 'run-3'))).toEqual({
      outcome: 'stopped',
      control: { state: 'cancelled', seq: 7 },
    });
    expect(await redis.xlen(stream)).toBe(20);
    // Another run's pages on the same stream are not stopped by this run's control.
    const other = checkpointKey(stream, 'run-4', 'memberships');
    expect((await publishPage(redis, page(stream, other, '', 'id-5', 5, 'run-4'))).outcome).toBe(
      'published',
    );
  });

  it('publishes a page once when attempts race on one checkpoint', async () => {
    const stream = `${prefix}race`;
    const key = checkpointKey(stream, 'run-5', 'memberships');
    for (let n = 1; n <= 5; n += 1) {
      const attempt = page(stream, key, n === 1 ? '' : `id-${n - 1}`, `id-${n}`, 50, 'run-5');
      // Ten attempts of the same page at once, as a job and its takeover would.
      const results = await Promise.all(
        Array.from({ length: 10 }, () => publishPage(redis, attempt)),
      );
      expect(results.filter((r) => r.outcome === 'published')).toHaveLength(1);
      // The others read the checkpoint at the page's end: stale, with the page's cursor.
      for (const r of results) {
        if (r.outcome === 'stale') expect(r.cursor).toBe(`id-${n}`);
      }
    }
    expect(await redis.xlen(stream)).toBe(250);
    expect(await readCheckpoint(redis, key)).toEqual({ cursor: 'id-5', published: 250 });
  });

  it('goes on through its connections being killed, publishing every page once', async () => {
    const stream = `${prefix}killed`;
    const key = checkpointKey(stream, 'run-6', 'memberships');
    const killer = new Redis(process.env.REDIS_URL as string);
    let kills = 0;
    let done = false;
    // Kills the page connections (named `…:pages`) every 20 ms, ten times, while pages go out.
    const kill = (async () => {
      while (kills < 10 && !done) {
        const clients = (await killer.client('LIST')) as string;
        for (const line of clients.split('\n')) {
          const id = /^id=(\d+) .* name=\S*:pages /.exec(line)?.[1];
          if (id) kills += Number(await killer.client('KILL', 'ID', id));
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    let cursor = '';
    try {
      for (let n = 1; n <= 100 || kills < 10; n += 1) {
        const result = await publishPage(redis, page(stream, key, cursor, `id-${n}`, 20, 'run-6'));
        // A page cut off after EXEC was sent reads as stale at its own end: it is out.
        expect(
          result.outcome === 'published' ||
            (result.outcome === 'stale' && result.cursor === `id-${n}`),
        ).toBe(true);
        cursor = `id-${n}`;
      }
    } finally {
      done = true;
      await kill;
      killer.disconnect();
    }
    const pages = Number(cursor.slice(3));
    expect(await redis.xlen(stream)).toBe(pages * 20);
    const entries = await redis.xrange(stream, '-', '+');
    const seen = new Set(entries.map(([, fields]) => fields[1]));
    expect(seen.size).toBe(pages * 20);
  });

  it('publishes nothing of a page Redis has no memory for', async () => {
    const server = await startRedis({
      dataDir: await mkdtemp(join(tmpdir(), 'redis-oom-')),
      appendOnly: false,
    });
    const small = new Redis(server.url);
    try {
      const stream = `${prefix}oom`;
      const key = checkpointKey(stream, 'run-7', 'memberships');
      const info = await small.info('memory');
      const used = Number(/used_memory:(\d+)/.exec(info)?.[1]);
      await small.config('SET', 'maxmemory', String(used + 100_000));
      const big = {
        ...page(stream, key, '', 'id-1', 0, 'run-7'),
        ...pageCommands(
          stream,
          Array.from({ length: 2_000 }, (_, i) => JSON.stringify({ i, pad: 'x'.repeat(200) })),
        ),
      };
      await expect(publishPage(small, big)).rejects.toThrow(/OOM/);
      expect(await small.xlen(stream)).toBe(0);
      expect(await readCheckpoint(small, key)).toEqual({ cursor: '', published: 0 });
      await small.config('SET', 'maxmemory', '0');
      expect((await publishPage(small, big)).outcome).toBe('published');
      expect(await small.xlen(stream)).toBe(2_000);
    } finally {
      small.disconnect();
      await server.stop();
    }
  });

  it('keys the checkpoint into the stream hash slot, so the page transaction runs on Redis Cluster', () => {
    for (const stream of [
      'credit-events',
      'crm:sync:organization:org_created',
      'p:hr:sync:organization:assignment_created',
      // A prefix with its own hash tag (how a consumer reads several streams on Cluster).
      '{crm}:crm:sync:organization:org_created',
    ]) {
      expect(calculateSlot(checkpointKey(stream, randomUUID(), 'credits'))).toBe(
        calculateSlot(stream),
      );
      expect(calculateSlot(controlKey(stream, randomUUID()))).toBe(calculateSlot(stream));
    }
  });
});
