/**
 * A verification of one tenant's application: recorded in Postgres (one running at a time per
 * tenant), each resource compared (compare.ts), the report saved and answered. It reads the
 * application's copy over Redis and the source in Postgres; it publishes nothing itself. Asked to
 * repair, it starts a run that publishes the differing rows (repair.ts), which the caller enqueues.
 */

import {
  applicationStreams,
  RESOURCES,
  type Resource,
  type VerificationView,
} from '@historical-sync/contracts';
import type { Db, Verification } from '@historical-sync/db';
import { ConflictError } from '@historical-sync/domain';
import type { Cluster, Redis } from 'ioredis';
import { sql } from 'kysely';
import { streamGroups } from '../redis/stream-groups';
import { QuotaExceededError } from '../runs/quotas';
import type { RunWithResources } from '../runs/runs';
import { getApplication, getTenant } from '../runs/tenants';
import type { TenantQuotas } from '../settings';
import { ApplicationUnavailableError } from './application';
import { compareResource, type ResourceComparison } from './compare';
import { type RepairOutcome, repair } from './repair';

/** A verification still `running` after this was left by a process that stopped. */
const ABANDONED_AFTER_MS = 15 * 60_000;
/** How long a leaf's second reading waits for the application's consumers to catch up. */
const CATCH_UP_MS = 10_000;
const DIFFERENCES_SHOWN = 100;

export interface VerifyDeps {
  db: Db;
  /** Blocks while it waits for answers: a connection of this verification's own. */
  redis: Redis | Cluster;
  streamPrefix: string;
  /** How long the application may take to answer one request. */
  answerTimeoutMs?: number;
}

export interface VerifyRequest {
  tenantId: string;
  application: string;
  resources?: readonly Resource[];
  /** Verifications per tenant per hour, when the caller is bound by it (a tenant key). */
  maxPerHour?: number;
  /** Repair what differs: a run with these settings (and quotas) publishes the differing rows. */
  repair?: {
    pageSize: number;
    maxEventsPerSecond: number | null;
    quotas?: Pick<TenantQuotas, 'maxActiveRuns' | 'maxRunsPerHour'>;
  };
}

export interface VerifyResult {
  verification: VerificationView;
  /** The repair's run, created and not yet enqueued: the caller enqueues it. */
  repairRun: RunWithResources | null;
}

export async function verifyApplication(
  deps: VerifyDeps,
  request: VerifyRequest,
): Promise<VerifyResult> {
  await getTenant(deps.db, request.tenantId);
  const application = await getApplication(deps.db, request.application);
  const resources = request.resources ?? RESOURCES;

  // Of any application: one running verification per tenant blocks them all.
  await sql`
    UPDATE verifications SET status = 'failed', finished_at = now(),
      error = 'abandoned: the process running it stopped'
    WHERE tenant_id = ${request.tenantId}
      AND status = 'running' AND started_at < now() - ${`${ABANDONED_AFTER_MS} milliseconds`}::interval
  `.execute(deps.db);
  if (request.maxPerHour) await enforceHourlyQuota(deps.db, request.tenantId, request.maxPerHour);
  const started = await deps.db
    .insertInto('verifications')
    .values({
      tenant_id: request.tenantId,
      application_id: application.id,
      app_code: application.code,
      resources: [...resources],
      repair: request.repair !== undefined,
    })
    .onConflict((oc) => oc.columns(['tenant_id']).where('status', '=', 'running').doNothing())
    .returningAll()
    .executeTakeFirst();
  if (!started) {
    throw new ConflictError(
      'a verification for this tenant is running (one at a time per tenant); wait for it to end',
    );
  }

  const comparisons: ResourceComparison[] = [];
  let repaired: RepairOutcome | undefined;
  try {
    for (const resource of resources) {
      comparisons.push(
        await compareResource({
          db: deps.db,
          redis: deps.redis,
          target: {
            appCode: application.code,
            streamPrefix: deps.streamPrefix,
            tenantId: request.tenantId,
            resource,
          },
          startedAt: started.started_at,
          ...(deps.answerTimeoutMs ? { timeoutMs: deps.answerTimeoutMs } : {}),
          consumersCaughtUp: () =>
            consumersCaughtUp(deps.redis, applicationStreams(application.code, deps.streamPrefix)),
        }),
      );
    }
    if (request.repair && comparisons.some((c) => c.differences.length > 0)) {
      repaired = await repair({
        db: deps.db,
        redis: deps.redis,
        streamPrefix: deps.streamPrefix,
        tenantId: request.tenantId,
        application,
        comparisons,
        timeoutMs: deps.answerTimeoutMs ?? 30_000,
        ...request.repair,
      });
    }
  } catch (error) {
    const failed = await deps.db
      .updateTable('verifications')
      .set({ status: 'failed', finished_at: sql`now()`, error: (error as Error).message })
      .where('id', '=', started.id)
      .returningAll()
      .executeTakeFirstOrThrow();
    // The application not answering is the verification's outcome, recorded and answered; a
    // failure of ours is a 500 like any other.
    if (error instanceof ApplicationUnavailableError) {
      return { verification: viewVerification(failed), repairRun: null };
    }
    throw error;
  }
  const report = Object.fromEntries(
    comparisons.map(({ resource, differingLeaves: _, differences, ...figures }) => [
      resource,
      { ...figures, differences: differences.slice(0, DIFFERENCES_SHOWN) },
    ]),
  );
  const noRepairNeeded = { runId: null, rows: 0, forgotten: 0, unrepaired: 0, error: null };
  const finished = await deps.db
    .updateTable('verifications')
    .set({
      status: 'completed',
      finished_at: sql`now()`,
      report: JSON.stringify({
        resources: report,
        ...(request.repair ? { repair: repaired?.view ?? noRepairNeeded } : {}),
      }),
      repair_run_id: repaired?.run?.id ?? null,
    })
    .where('id', '=', started.id)
    .returningAll()
    .executeTakeFirstOrThrow();
  return { verification: viewVerification(finished), repairRun: repaired?.run ?? null };
}

/** The latest verification of the tenant's application, or null when there has been none. */
export async function latestVerification(
  db: Db,
  tenantId: string,
  applicationId: string,
): Promise<VerificationView | null> {
  const row = await db
    .selectFrom('verifications')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('application_id', '=', applicationId)
    .orderBy('started_at', 'desc')
    .limit(1)
    .executeTakeFirst();
  return row ? viewVerification(row) : null;
}

/** The stored report: the resources' figures, and what the repair did when one was asked. */
interface StoredReport {
  resources?: VerificationView['resources'];
  repair?: VerificationView['repair'];
}

function viewVerification(row: Verification): VerificationView {
  const stored = (row.report ?? {}) as StoredReport;
  const resources = stored.resources ?? {};
  return {
    verificationId: row.id,
    tenantId: row.tenant_id,
    appCode: row.app_code,
    status: row.status,
    startedAt: row.started_at.toISOString(),
    finishedAt: row.finished_at?.toISOString() ?? null,
    differences: Object.values(resources).reduce((n, r) => n + r.missing + r.stale + r.ghost, 0),
    resources,
    repair: stored.repair ?? null,
    error: row.error,
  };
}

/** Until every consumer group of the application's streams has nothing left to read or ack. */
async function consumersCaughtUp(redis: Redis | Cluster, streams: readonly string[]) {
  const deadline = Date.now() + CATCH_UP_MS;
  while (Date.now() < deadline) {
    let behind = false;
    for (const stream of streams) {
      for (const group of await streamGroups(redis, stream)) {
        if ((group.lag ?? 1) > 0 || group.pending > 0) behind = true;
      }
    }
    if (!behind) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * A tenant key's verifications in the last hour: 429 past the quota, with when one leaves the
 * window. Counted without a lock: two requests at once can pass it by one, which the one running
 * verification per application bounds anyway.
 */
async function enforceHourlyQuota(db: Db, tenantId: string, maxPerHour: number) {
  const { rows } = await sql<{ n: number; frees_in: number | null }>`
    SELECT count(*)::int AS n,
      extract(epoch FROM min(started_at) + interval '1 hour' - clock_timestamp()) AS frees_in
    FROM verifications
    WHERE tenant_id = ${tenantId} AND started_at > clock_timestamp() - interval '1 hour'
  `.execute(db);
  const n = rows[0]?.n ?? 0;
  if (n >= maxPerHour) {
    const retryAfter = Math.max(1, Math.ceil(Number(rows[0]?.frees_in ?? 3600)));
    throw new QuotaExceededError(
      429,
      `tenant quota reached: ${n} verifications started in the last hour, at most ${maxPerHour} (TENANT_MAX_VERIFICATIONS_PER_HOUR); try again in ${retryAfter} s`,
      retryAfter,
    );
  }
}

/** Verifications kept after this long, besides each application's latest (the console's). */
const VERIFICATIONS_KEPT_MS = 30 * 24 * 3_600_000;

/**
 * Deletes verifications older than 30 days, except each tenant's latest of each application: the
 * table holds a month of history however often tenants verify. Run by the sweeper.
 */
export async function pruneVerifications(db: Db, keptMs = VERIFICATIONS_KEPT_MS): Promise<number> {
  const result = await sql`
    DELETE FROM verifications v
    WHERE v.started_at < now() - ${`${keptMs} milliseconds`}::interval
      AND EXISTS (
        SELECT 1 FROM verifications newer
        WHERE newer.tenant_id = v.tenant_id AND newer.application_id = v.application_id
          AND newer.started_at > v.started_at
      )
  `.execute(db);
  return Number(result.numAffectedRows ?? 0n);
}
