/**
 * A verification schedule per application (docs/VERIFY.md, the worker's VERIFY_SCHEDULE): each
 * pass verifies the enabled tenants of each scheduled application whose latest verification of it
 * started more than its interval ago, or never, one at a time, repairing when the schedule says so.
 *
 * - At most `perPass` verifications a pass, the most overdue first: a pass over thousands of due
 *   tenants would otherwise hold a tenant that falls due meanwhile until it ends.
 * - A tenant with an active run of the application is left for a later pass: its copy is being
 *   filled or repaired, and a verification now would count the rows still in flight.
 * - The interval counts from the latest verification's start, whatever its outcome: one that
 *   failed (the application did not answer) is tried again an interval later, not in a loop.
 * - Several worker processes may run passes at once: the verifications table's one running
 *   verification per tenant refuses the second (ConflictError), which means someone is on it.
 */

import type { VerificationView } from '@historical-sync/contracts';
import type { Db } from '@historical-sync/db';
import { ConflictError } from '@historical-sync/domain';
import type { Cluster, Redis } from 'ioredis';
import { sql } from 'kysely';
import type { Logger } from 'pino';
import { type BackfillQueues, enqueueInBackground } from '../runs/queues';
import { ACTIVE_RUN_STATUSES } from '../runs/run-state';
import type { BackfillSettings } from '../settings';
import { verifyApplication } from './verification';

export interface ScheduledApplication {
  appCode: string;
  intervalMs: number;
  repair: boolean;
}

/** The form VERIFY_SCHEDULE takes, for the one-line settings error. */
export const VERIFY_SCHEDULE_FORM =
  'a comma list of <application>=<interval>[:repair], the interval a whole number of s, m, h or d (e.g. crm=24h:repair,hr=7d)';

const UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const ENTRY = /^([A-Za-z0-9_-]+)=(\d+)([smhd])(?::(repair))?$/;

/**
 * Parses VERIFY_SCHEDULE: empty or blank = no schedule. Throws an Error saying which entry is
 * wrong and why; the caller names the setting.
 */
export function parseVerifySchedule(text: string | undefined): ScheduledApplication[] {
  if (!text?.trim()) return [];
  const schedule: ScheduledApplication[] = [];
  for (const raw of text.split(',')) {
    const entry = raw.trim();
    const match = ENTRY.exec(entry);
    if (!match) throw new Error(`"${entry}" is not <application>=<interval>[:repair]`);
    const [, appCode = '', amount = '0', unit = 's', repair] = match;
    const intervalMs = Number(amount) * UNIT_MS[unit as keyof typeof UNIT_MS];
    if (intervalMs < 1_000) throw new Error(`"${entry}": the interval must be at least 1s`);
    if (schedule.some((s) => s.appCode === appCode)) {
      throw new Error(`"${appCode}" is scheduled twice`);
    }
    schedule.push({ appCode, intervalMs, repair: repair === 'repair' });
  }
  return schedule;
}

/** The scheduled application codes the applications table does not have (a typo, most likely). */
export async function unknownScheduledApplications(
  db: Db,
  schedule: readonly ScheduledApplication[],
): Promise<string[]> {
  if (schedule.length === 0) return [];
  const known = await db
    .selectFrom('applications')
    .select('code')
    .where(
      'code',
      'in',
      schedule.map((s) => s.appCode),
    )
    .execute();
  return schedule.map((s) => s.appCode).filter((code) => !known.some((k) => k.code === code));
}

/** The longest a pass waits for the next: short intervals (tests, demos) are passed more often. */
const PASS_INTERVAL_MS = 30_000;
/** Verifications a pass starts at most. */
export const VERIFICATIONS_PER_PASS = 10;

/** How long after a pass ends the next one starts. */
export const schedulePassIntervalMs = (schedule: readonly ScheduledApplication[]): number =>
  Math.min(PASS_INTERVAL_MS, ...schedule.map((s) => s.intervalMs));

export interface DueVerification {
  tenantId: string;
  appCode: string;
  repair: boolean;
}

/**
 * The tenant and application pairs due, most overdue first (never verified before anything):
 * enabled, latest verification started over the interval ago, no active run of the application.
 */
export async function dueVerifications(
  db: Db,
  schedule: readonly ScheduledApplication[],
  limit: number,
): Promise<DueVerification[]> {
  if (schedule.length === 0) return [];
  const entries = sql.join(
    schedule.map((s) => sql`(${s.appCode}::text, ${s.intervalMs}::bigint, ${s.repair}::boolean)`),
  );
  const { rows } = await sql<{ tenant_id: string; app_code: string; repair: boolean }>`
    WITH schedule (app_code, interval_ms, repair) AS (VALUES ${entries})
    SELECT oa.tenant_id, a.code AS app_code, s.repair
    FROM schedule s
    JOIN applications a ON a.code = s.app_code
    JOIN organization_applications oa ON oa.application_id = a.id AND oa.is_enabled
    LEFT JOIN LATERAL (
      SELECT v.started_at FROM verifications v
      WHERE v.tenant_id = oa.tenant_id AND v.application_id = a.id
      ORDER BY v.started_at DESC LIMIT 1
    ) latest ON true
    WHERE (latest.started_at IS NULL
        OR latest.started_at < now() - s.interval_ms * interval '1 millisecond')
      AND NOT EXISTS (
        SELECT 1 FROM backfill_runs r
        WHERE r.tenant_id = oa.tenant_id AND r.application_id = a.id
          AND r.status = ANY(${[...ACTIVE_RUN_STATUSES]}::text[])
      )
    ORDER BY latest.started_at + s.interval_ms * interval '1 millisecond' ASC NULLS FIRST,
      oa.tenant_id
    LIMIT ${limit}
  `.execute(db);
  return rows.map((r) => ({ tenantId: r.tenant_id, appCode: r.app_code, repair: r.repair }));
}

export type ScheduledOutcome = DueVerification &
  (
    | { outcome: 'verified'; verification: VerificationView; repairRunId: string | null }
    /** Another process is verifying the tenant (the one-running-per-tenant index said so). */
    | { outcome: 'skipped' }
    /** An error of ours before or around the verification (recorded as failed once it started). */
    | { outcome: 'error'; error: unknown }
  );

export interface SchedulePassDeps {
  db: Db;
  /** Duplicated for each verification, which blocks on the application's answers. */
  redis: Redis | Cluster;
  queues: BackfillQueues;
  settings: Pick<BackfillSettings, 'streamPrefix' | 'pageSize' | 'maxEventsPerSecond'>;
  logger: Pick<Logger, 'warn'>;
  /** How long the application may take to answer one request (the verification's default). */
  answerTimeoutMs?: number;
  /** Checked before each verification: a stopping process ends the pass after the current one. */
  stopping?: () => boolean;
  perPass?: number;
}

/**
 * One pass: the due verifications, one at a time, each repair run enqueued. Returns what each
 * did. One tenant's error does not end the pass: the others are as due as before.
 */
export async function verifyScheduledPass(
  deps: SchedulePassDeps,
  schedule: readonly ScheduledApplication[],
): Promise<ScheduledOutcome[]> {
  const outcomes: ScheduledOutcome[] = [];
  const due = await dueVerifications(deps.db, schedule, deps.perPass ?? VERIFICATIONS_PER_PASS);
  for (const next of due) {
    if (deps.stopping?.()) break;
    // Redis and Cluster both duplicate themselves; their signatures differ only in options.
    const redis = (deps.redis as Redis).duplicate();
    try {
      const { verification, repairRun } = await verifyApplication(
        {
          db: deps.db,
          redis,
          streamPrefix: deps.settings.streamPrefix,
          ...(deps.answerTimeoutMs ? { answerTimeoutMs: deps.answerTimeoutMs } : {}),
        },
        {
          tenantId: next.tenantId,
          application: next.appCode,
          // The operator's schedule: bound like an admin key's request, not a tenant key's.
          ...(next.repair
            ? {
                repair: {
                  pageSize: deps.settings.pageSize,
                  maxEventsPerSecond: deps.settings.maxEventsPerSecond,
                },
              }
            : {}),
        },
      );
      if (repairRun) enqueueInBackground(deps.queues, repairRun, deps.logger);
      outcomes.push({
        ...next,
        outcome: 'verified',
        verification,
        repairRunId: repairRun?.id ?? null,
      });
    } catch (error) {
      outcomes.push(
        error instanceof ConflictError
          ? { ...next, outcome: 'skipped' }
          : { ...next, outcome: 'error', error },
      );
    } finally {
      redis.disconnect();
    }
  }
  return outcomes;
}
