/**
 * The spec's naive method, as a reference: OFFSET pages of 100 and one awaited XADD per event,
 * with the same event builder and payloads as the real path.
 *
 * OFFSET gets slower the deeper it reads, so a sample from the start of the table flatters it.
 * The sample is therefore taken as `windows` slices spread evenly over the whole table, and the
 * rate reported is the rate at equal size: all rows over the time the slices predict for them.
 */
import { EVENT_FIELD, streamName } from '@historical-sync/contracts';
import type { Db } from '@historical-sync/db';
import { membershipCreatedEvent } from '@historical-sync/domain';
import type { Redis } from 'ioredis';

const PAGE = 100;

export async function naiveBackfill(
  db: Db,
  redis: Redis,
  tenantId: string,
  totalRows: number,
  sample: number,
  prefix: string,
  windows = 10,
) {
  const stream = streamName('org.assignment.created', 'crm', prefix);
  const perWindow = Math.max(PAGE, Math.floor(sample / windows));
  let sampled = 0;
  let seconds = 0;
  for (let w = 0; w < windows; w++) {
    const start = Math.floor((w * Math.max(0, totalRows - perWindow)) / Math.max(1, windows - 1));
    const started = performance.now();
    for (let offset = start; offset < start + perWindow; offset += PAGE) {
      const rows = await db
        .selectFrom('organization_memberships')
        .select(['id', 'user_id', 'organization_id', 'role', 'created_at', 'updated_at', 'version'])
        .where('tenant_id', '=', tenantId)
        .where('is_active', '=', true)
        .orderBy('id')
        .offset(offset)
        .limit(PAGE)
        .execute();
      for (const row of rows) {
        const event = membershipCreatedEvent(tenantId, row, {
          targetApplication: 'crm',
          isHistoricalSync: true,
          runId: null,
        });
        await redis.xadd(stream, '*', EVENT_FIELD, JSON.stringify(event));
        sampled += 1;
      }
    }
    seconds += (performance.now() - started) / 1000;
  }
  await redis.del(stream);
  // Each slice stands for totalRows / windows rows at its depth.
  const estimatedSeconds = (seconds / sampled) * totalRows;
  return {
    events: sampled,
    seconds,
    estimatedSeconds,
    eventsPerSecond: totalRows / estimatedSeconds,
  };
}
