/**
 * Run controls as a barrier (docs/decisions/0009-controls-are-barriers.md). A pause, resume or
 * cancel writes the run's new control state to a control key beside each stream the run publishes
 * to, inside the transaction that changes the run's status and before the control answers; the page
 * transaction (publisher.ts) refuses a page while the key says `paused` or `cancelled`, and watches
 * the key, so a control written between its read and its EXEC makes it read again. So once a
 * control has answered, no page of that run reaches any stream: entries already added were added
 * before the answer.
 *
 * Every control takes a number from one Postgres sequence (`backfill_run_control_seq`) and Redis
 * keeps a control key's highest number only, so a late write of an older control never undoes a
 * newer one. A control whose transaction rolls back after writing its keys leaves them ahead of
 * Postgres; the worker that meets such a key settles it against Postgres under a row lock.
 *
 * So that such a left-over key can only ever stop pages, never let them through, nothing written
 * before a commit opens a key: a resume writes `paused` with its number inside its transaction
 * and opens the keys only after the commit (openRunBarrier). A resume that answered an error can
 * then leave a key that says `paused` at worst, which is what Postgres says too. Postgres is the
 * truth and a key may only be more closed than it: a refused page of a run Postgres lets publish
 * opens the key again (settleRefusedPage). A run that completes closes its keys for good.
 */
import { HISTORICAL_EVENT_TYPE, type Resource, streamName } from '@historical-sync/contracts';
import type { Db, RunStatus } from '@historical-sync/db';
import { SyncError } from '@historical-sync/domain';
import { evalScript, script } from '@historical-sync/runtime';
import { sql } from 'kysely';
import { isFinalRunStatus } from '../runs/run-state';
import {
  CHECKPOINT_TTL_MS,
  controlKey,
  type PageToPublish,
  type PublishResult,
  publishPage,
  type RedisClient,
  type RunControl,
} from './publisher';

export type ControlState = 'open' | 'paused' | 'cancelled';

export interface BarrierDeps {
  redis: RedisClient;
  streamPrefix: string;
}

/*
 * Both scripts are flagged `allow-oom`: a control must answer correctly when Redis refuses writes
 * for memory (with `noeviction`, every other write then fails), and its key is a few bytes.
 */

/** KEYS: control key. ARGV: seq, state, TTL. Writes only a higher seq than the key holds. */
const RAISE = script(
  1,
  `#!lua flags=allow-oom
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
  `#!lua flags=allow-oom
if redis.call('HGET', KEYS[1], 'seq') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'state', ARGV[2])
return 1
`,
);

/**
 * A run's status as the barrier sees it: a paused run's pages wait, a finished run (cancelled or
 * completed) publishes nothing more, whatever job still holds one of its pages.
 */
export function controlStateOf(status: RunStatus): ControlState {
  if (status === 'paused') return 'paused';
  return isFinalRunStatus(status) ? 'cancelled' : 'open';
}

/**
 * What a control writes before its transaction commits: its own state, except that a resume
 * keeps the keys closed until the commit (openRunBarrier), so a resume that rolls back, or whose
 * write lands late, opens nothing.
 */
export const stateBeforeCommit = (state: ControlState): ControlState =>
  state === 'open' ? 'paused' : state;

export function resourceStream(resource: Resource, appCode: string, streamPrefix: string): string {
  return streamName(HISTORICAL_EVENT_TYPE[resource], appCode, streamPrefix);
}

/**
 * Writes `state` with `seq` to the control key of every stream the run's resources publish to.
 * Called inside the transaction that records the control, so a failure here rolls it back and
 * the caller answers 503 with nothing changed. Bounded in time: with Redis away, commands would
 * otherwise wait in the client's offline queue while the run's row stays locked.
 */
export interface BarrierRun {
  id: string;
  appCode: string;
  resources: readonly Resource[];
}

const runStreams = (deps: BarrierDeps, run: BarrierRun) => [
  ...new Set(run.resources.map((r) => resourceStream(r, run.appCode, deps.streamPrefix))),
];

export async function raiseRunBarrier(
  deps: BarrierDeps,
  run: BarrierRun,
  seq: number,
  state: ControlState,
  timeoutMs = 5_000,
): Promise<void> {
  try {
    await writeRunKeys(deps, run, RAISE, [seq, state, CHECKPOINT_TTL_MS], timeoutMs);
  } catch (error) {
    throw new SyncError(
      503,
      'unavailable',
      `Redis (REDIS_URL) could not record the run's control, so nothing was changed: ${
        (error as Error).message
      }`,
    );
  }
}

/**
 * After a resume committed: opens the keys its transaction wrote `paused` with `seq`, unless a
 * newer control wrote them since. False when Redis did not answer in time; the run's workers then
 * open them when they meet them (settleRefusedPage), so the resume stands either way.
 */
export async function openRunBarrier(
  deps: BarrierDeps,
  run: BarrierRun,
  seq: number,
  timeoutMs = 5_000,
): Promise<boolean> {
  return writeRunKeys(deps, run, SETTLE, [seq, 'open'], timeoutMs).then(
    () => true,
    () => false,
  );
}

/**
 * Runs `command` on the control key of every stream of the run, within `timeoutMs`. A write left
 * behind by the timeout is harmless: it closes at most (stateBeforeCommit), or opens only with the
 * number it was given, older than any later control's; a worker it stops settles it against
 * Postgres.
 */
async function writeRunKeys(
  deps: BarrierDeps,
  run: BarrierRun,
  command: typeof RAISE,
  args: (string | number)[],
  timeoutMs: number,
): Promise<void> {
  const writes = Promise.all(
    runStreams(deps, run).map((stream) =>
      evalScript(deps.redis, command, [controlKey(stream, run.id)], args),
    ),
  );
  try {
    await withinMs(writes, timeoutMs);
  } catch (error) {
    writes.catch(() => {});
    throw error;
  }
}

async function withinMs<T>(work: Promise<T>, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([work, timeout]);
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
 * control is in flight. A paused or finished run is obeyed. Any other run may publish, so the key
 * was left closed by a control that rolled back (a number past the run's last committed control)
 * or by a resume whose opening did not reach Redis (its own number): it is opened (only if no
 * newer control wrote the key meanwhile), and the page can be tried again.
 */
export async function settleRefusedPage(
  db: Db,
  redis: RedisClient,
  runId: string,
  stream: string,
  control: RunControl,
): Promise<'paused' | 'cancelled' | 'open'> {
  return db.transaction().execute(async (trx) => {
    const { rows } = await sql<{ status: RunStatus }>`
      SELECT status FROM backfill_runs WHERE id = ${runId} FOR SHARE
    `.execute(trx);
    const run = rows[0];
    if (!run || isFinalRunStatus(run.status)) return 'cancelled';
    if (run.status === 'paused') return 'paused';
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
