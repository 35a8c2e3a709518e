/**
 * Run controls as a barrier (DESIGN.md decision 9). A pause, resume or cancel writes the run's
 * new control state to a control key beside each stream the run publishes to, inside the
 * transaction that changes the run's status and before the control answers; the page transaction
 * (publisher.ts) refuses a page while the key says `paused` or `cancelled`, and watches the key, so
 * a control written between its read and its EXEC makes it read again. So once a control has
 * answered, no page of that run reaches any stream: entries already added were added before the
 * answer.
 *
 * Every control takes a number from one Postgres sequence (`backfill_run_control_seq`) and Redis
 * keeps a control key's highest number only, so a late write of an older control never undoes a
 * newer one. A control whose transaction rolls back after writing its keys leaves them ahead of
 * Postgres; the worker that meets such a key settles it against Postgres under a row lock.
 */
import { HISTORICAL_EVENT_TYPE, type Resource, streamName } from '@historical-sync/contracts';
import type { Db, RunStatus } from '@historical-sync/db';
import { SyncError } from '@historical-sync/domain';
import { sql } from 'kysely';
import {
  CHECKPOINT_TTL_MS,
  controlKey,
  type PageToPublish,
  type PublishResult,
  publishPage,
  type RedisClient,
  type RunControl,
} from './publisher';
import { evalScript, script } from './redis-script';
import { isFinalRunStatus } from './run-state';

export type ControlState = 'open' | 'paused' | 'cancelled';

export interface BarrierDeps {
  redis: RedisClient;
  streamPrefix: string;
}

/** KEYS: control key. ARGV: seq, state, TTL. Writes only a higher seq than the key holds. */
const RAISE = script(
  1,
  `
local seq = tonumber(redis.call('HGET', KEYS[1], 'seq') or '-1')
if seq >= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'seq', ARGV[1], 'state', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
`,
);

/** KEYS: control key. ARGV: expected seq, state. Rewrites the state only if the seq is unchanged. */
const SETTLE = script(
  1,
  `
if redis.call('HGET', KEYS[1], 'seq') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'state', ARGV[2])
return 1
`,
);

/** A run's status as the barrier sees it: only pause and cancel stop a page. */
export function controlStateOf(status: RunStatus): ControlState {
  return status === 'paused' ? 'paused' : status === 'cancelled' ? 'cancelled' : 'open';
}

export function resourceStream(resource: Resource, appCode: string, streamPrefix: string): string {
  return streamName(HISTORICAL_EVENT_TYPE[resource], appCode, streamPrefix);
}

/**
 * Writes `state` with `seq` to the control key of every stream the run's resources publish to.
 * Called inside the transaction that records the control, so a failure here rolls it back and
 * the caller answers 503 with nothing changed. Bounded in time: with Redis away, commands would
 * otherwise wait in the client's offline queue while the run's row stays locked.
 */
export async function raiseRunBarrier(
  deps: BarrierDeps,
  run: { id: string; appCode: string; resources: readonly Resource[] },
  seq: number,
  state: ControlState,
  timeoutMs = 5_000,
): Promise<void> {
  const streams = new Set(
    run.resources.map((r) => resourceStream(r, run.appCode, deps.streamPrefix)),
  );
  const writes = Promise.all(
    [...streams].map((stream) =>
      evalScript(deps.redis, RAISE, [controlKey(stream, run.id)], [seq, state, CHECKPOINT_TTL_MS]),
    ),
  );
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    await Promise.race([writes, timeout]);
  } catch (error) {
    writes.catch(() => {}); // a late write is harmless: its seq is older than any later control's
    throw new SyncError(
      503,
      'unavailable',
      `Redis (REDIS_URL) could not record the run's control, so nothing was changed: ${
        (error as Error).message
      }`,
    );
  } finally {
    clearTimeout(timer);
  }
}

/** Takes the next control number; never reused, even when its transaction rolls back. */
export async function nextControlSeq(db: Db): Promise<number> {
  const { rows } = await sql<{
    seq: string;
  }>`SELECT nextval('backfill_run_control_seq') AS seq`.execute(db);
  return Number(rows[0]?.seq);
}

/**
 * A page was refused by the run's control key: what Postgres says, read under a share lock so no
 * control is in flight. A paused or cancelled run is obeyed. A key numbered past the run's last
 * committed control was written by a control that rolled back: its state is set back to open
 * (only if no newer control wrote the key meanwhile), and the page can be tried again.
 */
export async function settleRefusedPage(
  db: Db,
  redis: RedisClient,
  runId: string,
  stream: string,
  control: RunControl,
): Promise<'paused' | 'cancelled' | 'open'> {
  return db.transaction().execute(async (trx) => {
    const { rows } = await sql<{ status: RunStatus; control_seq: string }>`
      SELECT status, control_seq FROM backfill_runs WHERE id = ${runId} FOR SHARE
    `.execute(trx);
    const run = rows[0];
    if (!run || isFinalRunStatus(run.status)) return 'cancelled';
    if (run.status === 'paused') return 'paused';
    // Only a key written by a control Postgres never committed (a number past the run's last
    // one) is set back; a committed control's key is obeyed as it is.
    if (control.seq <= Number(run.control_seq)) return control.state;
    await evalScript(redis, SETTLE, [controlKey(stream, runId)], [control.seq, 'open']);
    return 'open';
  });
}

/** How often a page refused by a rolled-back control's key is settled and tried again. */
const SETTLE_ATTEMPTS = 3;

/**
 * Publishes a page, obeying the run's barrier: `paused` or `cancelled` when a control stopped
 * the run (nothing published), otherwise the publish's own outcome.
 */
export async function publishThroughBarrier(
  db: Db,
  redis: RedisClient,
  page: PageToPublish,
): Promise<
  Exclude<PublishResult, { outcome: 'stopped' }> | { outcome: 'paused' } | { outcome: 'cancelled' }
> {
  for (let attempt = 1; ; attempt += 1) {
    const result = await publishPage(redis, page);
    if (result.outcome !== 'stopped') return result;
    const settled = await settleRefusedPage(db, redis, page.runId, page.stream, result.control);
    if (settled === 'paused') return { outcome: 'paused' };
    if (settled === 'cancelled') return { outcome: 'cancelled' };
    if (attempt >= SETTLE_ATTEMPTS) {
      throw new Error(`run ${page.runId}: its control key keeps refusing pages of an active run`);
    }
  }
}
