/**
 * Run quotas per tenant: how many runs it may have active, and start per hour. Checked and the run
 * created in one transaction under a per-tenant advisory lock, so concurrent requests of one
 * tenant take turns and cannot overshoot a quota between the count and the insert.
 */
import type { Db } from '@historical-sync/db';
import { SyncError } from '@historical-sync/domain';
import { sql } from 'kysely';
import type { TenantQuotas } from '../settings';
import { ACTIVE_RUN_STATUSES } from './run-state';
import { findActiveRun } from './runs';

const HOUR_MS = 3_600_000;

/** A quota is reached: 409 for active runs (wait for one to end), 429 for the hourly budget. */
export class QuotaExceededError extends SyncError {
  constructor(
    statusCode: 409 | 429,
    message: string,
    /** When the request may succeed again (the hourly quota), for a `retry-after` header. */
    readonly retryAfterSeconds?: number,
  ) {
    super(statusCode, 'quota_exceeded', message);
  }
}

/**
 * Serializes run creation per tenant until the transaction ends. The key space is this project's
 * own: `hashtextextended` of a prefixed tenant id.
 */
export async function lockTenantRuns(trx: Db, tenantId: string): Promise<void> {
  await sql`SELECT pg_advisory_xact_lock(hashtextextended(${`backfill-runs:${tenantId}`}, 0))`.execute(
    trx,
  );
}

/**
 * Refuses a new run for `applicationId` when the tenant is at a quota. Call inside the
 * transaction that then calls `createRun`: the lock is held until it commits. A request that
 * would return the application's active run (no new run) passes.
 */
export async function enforceRunQuotas(
  trx: Db,
  request: { tenantId: string; applicationId: string },
  quotas: Pick<TenantQuotas, 'maxActiveRuns' | 'maxRunsPerHour'>,
): Promise<void> {
  if (quotas.maxActiveRuns === 0 && quotas.maxRunsPerHour === 0) return;
  await lockTenantRuns(trx, request.tenantId);
  if (await findActiveRun(trx, request.tenantId, request.applicationId)) return;
  // clock_timestamp(), not now(): the transaction may have waited for the lock.
  const counts = await trx
    .selectFrom('backfill_runs')
    .select([
      sql<string>`count(*) FILTER (WHERE status IN (${sql.join(ACTIVE_RUN_STATUSES)}))`.as(
        'active',
      ),
      sql<string>`count(*) FILTER (WHERE created_at > clock_timestamp() - interval '1 hour')`.as(
        'lastHour',
      ),
      sql<
        number | null
      >`extract(epoch FROM min(created_at) FILTER (WHERE created_at > clock_timestamp() - interval '1 hour') + interval '1 hour' - clock_timestamp())`.as(
        'windowFreesInSeconds',
      ),
    ])
    .where('tenant_id', '=', request.tenantId)
    .executeTakeFirstOrThrow();
  const active = Number(counts.active);
  if (quotas.maxActiveRuns > 0 && active >= quotas.maxActiveRuns) {
    throw new QuotaExceededError(
      409,
      `tenant quota reached: ${active} active runs, at most ${quotas.maxActiveRuns} (TENANT_MAX_ACTIVE_RUNS); wait for one to end or cancel one`,
    );
  }
  const lastHour = Number(counts.lastHour);
  if (quotas.maxRunsPerHour > 0 && lastHour >= quotas.maxRunsPerHour) {
    const retryAfter = Math.max(
      1,
      Math.ceil(Number(counts.windowFreesInSeconds ?? HOUR_MS / 1000)),
    );
    throw new QuotaExceededError(
      429,
      `tenant quota reached: ${lastHour} runs started in the last hour, at most ${quotas.maxRunsPerHour} (TENANT_MAX_RUNS_PER_HOUR); try again in ${retryAfter} s`,
      retryAfter,
    );
  }
}
