/**
 * Verification of an application's copy of a tenant against the source (docs/VERIFY.md):
 * `POST …/applications/:appCode/verify` compares and answers the report; `GET
 * …/applications/:appCode/verifications/latest` answers the last one. A verification reads the
 * source and asks the application over Redis; with `repair` it starts a run (trigger `verify`)
 * that publishes the rows found differing, enqueued here like a manual sync's, within the same
 * tenant quotas and rate cap.
 *
 * Bounds: one verification per tenant at a time (the verifications table's unique index, so one
 * tenant holds at most one of this process's slots), and at most `maxConcurrent` in this process, each on a Redis connection of its own (it waits on
 * the application's answers).
 */
import {
  type BackfillQueues,
  type BackfillSettings,
  enqueueInBackground,
  getApplication,
  getTenant,
  latestVerification,
  QuotaExceededError,
  type RedisClient,
  SyncError,
  type TenantQuotas,
  verifyApplication,
} from '@historical-sync/backfill';
import { ROUTES } from '@historical-sync/contracts';
import type { Db } from '@historical-sync/db';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Redis } from 'ioredis';
import { errorResponses, KEYED, WITH_BODY, WITH_PARAMS } from '../http/responses';
import { runQuotasFor, runRateFor } from '../http/tenant-limits';

export function verifyRoutes(
  scope: FastifyInstance,
  deps: {
    db: Db;
    redis: RedisClient;
    queues: BackfillQueues;
    settings: BackfillSettings;
    /** How long the application may take to answer one request. */
    answerTimeoutMs: number;
    maxConcurrent: number;
    tenantQuotas: TenantQuotas;
  },
): void {
  const app = scope.withTypeProvider<ZodTypeProvider>();
  const { verifyApplication: verify, getLatestVerification: latest } = ROUTES;
  let running = 0;
  app.post(
    verify.path,
    {
      schema: {
        summary:
          "Compare the application's copy of the tenant with the source (digests over id ranges, then rows): a report by resource of rows missing, stale and ghost; with `repair`, a run that publishes the differing rows",
        tags: ['applications'],
        params: verify.params,
        body: verify.body,
        response: {
          200: verify.response[200].describe('the verification, completed or failed'),
          ...errorResponses(...KEYED, ...WITH_BODY, 404, 409),
        },
      },
    },
    async (request) => {
      if (running >= deps.maxConcurrent) {
        throw new QuotaExceededError(
          429,
          `${running} verifications are running in this API process, at most ${deps.maxConcurrent} (VERIFY_MAX_CONCURRENT); try again when one ends`,
          1,
        );
      }
      running += 1;
      // Redis and Cluster both duplicate themselves; their signatures differ only in options.
      const redis = (deps.redis as Redis).duplicate();
      const { principal } = request;
      try {
        const { verification, repairRun } = await verifyApplication(
          {
            db: deps.db,
            redis,
            streamPrefix: deps.settings.streamPrefix,
            answerTimeoutMs: deps.answerTimeoutMs,
          },
          {
            tenantId: request.params.orgId,
            application: request.params.appCode,
            ...(request.body?.resources ? { resources: request.body.resources } : {}),
            ...(principal?.kind === 'tenant'
              ? { maxPerHour: deps.tenantQuotas.maxVerificationsPerHour }
              : {}),
            ...(request.body?.repair
              ? {
                  repair: {
                    pageSize: deps.settings.pageSize,
                    maxEventsPerSecond: runRateFor(
                      principal,
                      undefined,
                      deps.settings.maxEventsPerSecond,
                      deps.tenantQuotas,
                    ),
                    quotas: runQuotasFor(principal, deps.tenantQuotas),
                  },
                }
              : {}),
          },
        );
        if (repairRun) {
          enqueueInBackground(deps.queues, repairRun, request.log.child({ verification: true }));
        }
        return verification;
      } finally {
        running -= 1;
        redis.disconnect();
      }
    },
  );
  app.get(
    latest.path,
    {
      schema: {
        summary: "The application's latest verification for the tenant",
        tags: ['applications'],
        params: latest.params,
        response: {
          200: latest.response[200].describe('the latest verification'),
          ...errorResponses(...KEYED, ...WITH_PARAMS, 404),
        },
      },
    },
    async (request) => {
      await getTenant(deps.db, request.params.orgId);
      const application = await getApplication(deps.db, request.params.appCode);
      const latest = await latestVerification(deps.db, request.params.orgId, application.id);
      if (!latest) {
        throw new SyncError(
          404,
          'not_found',
          `application ${application.code} has not been verified for this tenant`,
        );
      }
      return latest;
    },
  );
}
