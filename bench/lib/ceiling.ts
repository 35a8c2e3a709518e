/**
 * The machine's ceiling for Redis ingest: the same events, prebuilt as XADD commands in Redis's
 * wire protocol, sent with `redis-cli --pipe` (no reading, no building, no round trips).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { EVENT_FIELD, streamName } from '@historical-sync/contracts';
import type { Db } from '@historical-sync/db';
import { membershipCreatedEvent } from '@historical-sync/domain';
import type { Redis } from 'ioredis';
import { cpuDelta, cpuSnapshot, type ServerPorts } from './cpu';

const bulk = (value: string) => `$${Buffer.byteLength(value)}\r\n${value}\r\n`;

export async function ceiling(
  db: Db,
  redis: Redis,
  redisUrl: string,
  tenantId: string,
  sample: number,
  dir: string,
  prefix: string,
  /** The benchmark's own servers: Redis's CPU while it ingests the commands is measured on them. */
  ports: ServerPorts,
) {
  const stream = streamName('org.assignment.created', 'crm', prefix);
  const file = join(dir, 'ceiling.resp');
  const out = createWriteStream(file);
  let written = 0;
  let after = '';
  while (written < sample) {
    let query = db
      .selectFrom('organization_memberships')
      .select(['id', 'user_id', 'organization_id', 'role', 'created_at', 'updated_at', 'version'])
      .where('tenant_id', '=', tenantId)
      .orderBy('id')
      .limit(Math.min(10_000, sample - written));
    if (after) query = query.where('id', '>', after);
    const rows = await query.execute();
    if (rows.length === 0) break;
    let chunk = '';
    for (const row of rows) {
      const event = JSON.stringify(
        membershipCreatedEvent(tenantId, row, {
          targetApplication: 'crm',
          isHistoricalSync: true,
          runId: null,
        }),
      );
      chunk += `*5\r\n${bulk('XADD')}${bulk(stream)}${bulk('*')}${bulk(EVENT_FIELD)}${bulk(event)}`;
    }
    if (!out.write(chunk)) await once(out, 'drain');
    written += rows.length;
    after = rows[rows.length - 1]?.id as string;
  }
  out.end();
  await once(out, 'finish');

  const cpuBefore = await cpuSnapshot(undefined, ports);
  const started = performance.now();
  const child = spawn('redis-cli', ['-u', redisUrl, '--pipe'], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  createReadStream(file).pipe(child.stdin);
  let report = '';
  child.stdout.on('data', (d: Buffer) => {
    report += d.toString();
  });
  const [code] = (await once(child, 'exit')) as [number];
  const seconds = (performance.now() - started) / 1000;
  if (code !== 0) throw new Error(`redis-cli --pipe failed: ${report}`);
  const redisCpuSeconds = cpuDelta(cpuBefore, await cpuSnapshot(undefined, ports)).redis ?? 0;
  const length = await redis.xlen(stream);
  await redis.del(stream);
  await rm(file, { force: true });
  return {
    events: length,
    seconds,
    eventsPerSecond: length / seconds,
    redisCpuUsPerEvent: (redisCpuSeconds * 1e6) / length,
  };
}
