/**
 * The spec's naive method, as a reference: OFFSET pages of 100 and one awaited XADD per event,
 * with the same event builder and payloads as the real path.
 */
import { EVENT_FIELD, streamName } from '@historical-sync/contracts';
import type { Db } from '@historical-sync/db';
import { membershipCreatedEvent } from '@historical-sync/domain';
import type { Redis } from 'ioredis';

export async function naiveBackfill(
  db: Db,
  redis: Redis,
  tenantId: string,
  sample: number,
  prefix: string,
) {
  const stream = streamName('org.assignment.created', 'crm', prefix);
  const started = performance.now();
  let published = 0;
  for (let offset = 0; published < sample; offset += 100) {
    const rows = await db
      .selectFrom('organization_memberships')
      .select(['id', 'user_id', 'organization_id', 'role', 'created_at', 'updated_at', 'version'])
      .where('tenant_id', '=', tenantId)
      .where('is_active', '=', true)
      .orderBy('id')
      .offset(offset)
      .limit(100)
      .execute();
    if (rows.length === 0) break;
    for (const row of rows) {
      const event = membershipCreatedEvent(tenantId, row, {
        targetApplication: 'crm',
        isHistoricalSync: true,
        runId: null,
      });
      await redis.xadd(stream, '*', EVENT_FIELD, JSON.stringify(event));
      published += 1;
      if (published >= sample) break;
    }
  }
  const seconds = (performance.now() - started) / 1000;
  await redis.del(stream);
  return { events: published, seconds, eventsPerSecond: published / seconds };
}
