/**
 * `hsync streams` and `hsync streams detach` as an operator runs them: the real API process on a
 * fresh database and the shared Redis, `hsync` as a process judged by its output and exit code,
 * and Redis itself (XINFO GROUPS) for what the commands changed. A stream with entries and no
 * group, and a group that never read (stalled after STREAM_GROUP_STALLED_MS=1000), are made with
 * XADD and XGROUP CREATE.
 */
import { randomBytes } from 'node:crypto';
import { streamName } from '@historical-sync/contracts';
import { createTestDatabase, type TestDatabase } from '@historical-sync/db/testing';
import { findFreePort } from '@historical-sync/local-stack';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type CliResult,
  type Command,
  envWithout,
  killCommand,
  runApp,
  runHsync,
  waitForApi,
} from './helpers';

/** STREAM_GROUP_STALLED_MS=1000 as the API words it (tenths of an hour). */
const STALLED_FOR = '1 s';

describe('hsync streams', () => {
  let database: TestDatabase;
  let redis: Redis;
  let api: Command | undefined;
  let cliEnv: NodeJS.ProcessEnv;
  const unique = `t${randomBytes(4).toString('hex')}`;
  const adminKey = `cli-streams-${randomBytes(8).toString('hex')}`;
  /** Entries and no group: the ungrouped warning. */
  const unread = streamName('org.created', 'hr', `${unique}:`);
  /** A group that never reads: stalled, and the one detached. */
  const held = streamName('org.created', 'crm', `${unique}:`);

  const hsync = (...args: string[]) => runHsync(args, cliEnv);
  const groupsOf = async (stream: string) =>
    ((await redis.xinfo('GROUPS', stream)) as unknown[][]).map((fields) =>
      String(fields[fields.indexOf('name') + 1]),
    );

  beforeAll(async () => {
    database = await createTestDatabase('cli_streams');
    redis = new Redis(process.env.REDIS_URL as string);
    const port = await findFreePort();
    const apiUrl = `http://127.0.0.1:${port}`;
    api = runApp('api', {
      ...envWithout('ADMIN_API_KEY', 'HOST', 'PORT'),
      DATABASE_URL: database.url,
      QUEUE_PREFIX: unique,
      STREAM_PREFIX: `${unique}:`,
      HOST: '127.0.0.1',
      PORT: String(port),
      ADMIN_API_KEY: adminKey,
      LOG_LEVEL: 'warn',
      // A group with entries to read and no read for a second is stalled.
      STREAM_GROUP_STALLED_MS: '1000',
    });
    cliEnv = {
      ...envWithout('HSYNC_API_URL', 'HSYNC_API_KEY', 'ADMIN_API_KEY'),
      HSYNC_API_URL: apiUrl,
      ADMIN_API_KEY: adminKey,
    };
    for (let i = 0; i < 3; i++) await redis.xadd(unread, '*', 'event', String(i));
    for (let i = 0; i < 5; i++) await redis.xadd(held, '*', 'event', String(i));
    await redis.xgroup('CREATE', held, 'gone-app', '0');
    await waitForApi(apiUrl, api, 120_000);
  }, 150_000);
  afterAll(async () => {
    await killCommand(api);
    const keys = await redis.keys(`*${unique}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
    await database?.destroy();
  });

  it('prints each stream with its warning under it, and each group with lag, pending, idle and stalled', {
    timeout: 90_000,
  }, async () => {
    // The group becomes stalled a second after its oldest entry: poll until the CLI says so.
    let result: CliResult = { code: null, stdout: '', stderr: '' };
    await expect
      .poll(
        async () => {
          result = await hsync('streams');
          return result.stdout.match(new RegExp(`^${held} +gone-app .*$`, 'm'))?.[0];
        },
        { timeout: 60_000, interval: 200 },
      )
      .toMatch(/ 5 +0 +no consumer +\d+s +stalled$/);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const lines = result.stdout.split('\n');
    expect(lines[0]).toMatch(/^redis memory: \d/);
    expect(lines).toContain(
      'streams not trimmed yet (a worker with the sweeper role trims them every few seconds)',
    );
    expect(lines.some((line) => /^STREAM +ENTRIES +MEMORY +OLDEST UNACKED$/.test(line))).toBe(true);
    // Each warning is the line right under its stream.
    const unreadAt = lines.findIndex((line) => line.startsWith(`${unread} `));
    expect(lines[unreadAt]).toMatch(new RegExp(`^${unread} +3 +\\d+(\\.\\d)? [KM]?i?B +--$`));
    expect(lines[unreadAt + 1]).toMatch(
      /^ {2}warning: no consumer group reads this stream: its entries are kept 7 d \(STREAM_RETENTION_UNGROUPED_MS\), then trimmed unread$/,
    );
    const heldAt = lines.findIndex((line) => line.startsWith(`${held} `));
    expect(lines[heldAt]).toMatch(new RegExp(`^${held} +5 +\\S+ \\S+ +\\d+s$`));
    expect(lines[heldAt + 1]).toBe(
      `  warning: gone-app has not read for over ${STALLED_FOR} and holds its unread entries in Redis; if the application is gone, detach it (hsync streams detach ${held} gone-app --yes)`,
    );

    const json = await hsync('streams', '--json');
    expect(json.code).toBe(0);
    const body = JSON.parse(json.stdout) as {
      streams: { stream: string; length: number; warning: string | null }[];
      consumerGroups: { stream: string; group: string; lag: number; stalled: boolean }[];
    };
    expect(body.streams.find((s) => s.stream === unread)).toMatchObject({
      length: 3,
      warning: expect.stringContaining('no consumer group reads this stream'),
    });
    expect(body.consumerGroups.find((g) => g.stream === held)).toMatchObject({
      group: 'gone-app',
      lag: 5,
      pending: 0,
      idleSeconds: null,
      stalled: true,
    });
  });

  it('detach refuses without --yes and changes nothing; with --yes removes the group; an unknown group is the 404', {
    timeout: 60_000,
  }, async () => {
    const refused = await hsync('streams', 'detach', held, 'gone-app');
    expect(refused.code).toBe(1);
    expect(refused.stdout).toBe('');
    expect(refused.stderr.trim()).toBe(
      `hsync: streams detach: refusing without --yes: once gone-app is detached, the entries of ${held} it has not read or acknowledged are trimmed, and its application can never read them. If its application is gone: hsync streams detach ${held} gone-app --yes`,
    );
    expect(await groupsOf(held)).toEqual(['gone-app']);

    const detached = await hsync('streams', 'detach', held, 'gone-app', '--yes');
    expect(detached.stderr).toBe('');
    expect(detached.code).toBe(0);
    expect(detached.stdout).toBe(
      [
        `detached gone-app from ${held}`,
        '  it had 0 pending (read, not acknowledged) and 5 unread entries;',
        '  the worker now trims them like acknowledged ones, unless another group still needs them',
        '',
      ].join('\n'),
    );
    expect(await groupsOf(held)).toEqual([]);
    expect(await redis.xlen(held)).toBe(5);

    const unknown = await hsync('streams', 'detach', held, 'gone-app', '--yes');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr.trim()).toBe(
      `hsync: API 404 not_found: stream ${held} has no consumer group gone-app (field group); hsync streams lists the streams and their groups`,
    );
    const elsewhere = await hsync('streams', 'detach', 'not-a-system-stream', 'gone-app', '--yes');
    expect(elsewhere.code).toBe(1);
    expect(elsewhere.stderr.trim()).toBe(
      "hsync: API 404 not_found: stream not-a-system-stream is not one of the system's streams (field stream); hsync streams lists the streams and their groups",
    );
  });
});
