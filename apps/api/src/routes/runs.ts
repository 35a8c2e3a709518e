/** The console's run history across tenants, and retry of a failed run. */
import {
  type BackfillQueues,
  getTenant,
  listRuns,
  type RunRateTracker,
  retryRun,
  type TenantQuotas,
  tenantNotFound,
  viewRun,
} from '@historical-sync/backfill';
import { ROUTES } from '@historical-sync/contracts';
import type { Db } from '@historical-sync/db';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { errorResponses, KEYED, WITH_BODY, WITH_PARAMS } from '../http/responses';
import { runQuotasFor } from '../http/tenant-limits';

/**
 * `GET /admin/sync-runs`. A tenant key lists its own tenant's runs only: naming another tenant
 * answers 404 exactly as an unknown tenant does, so it learns nothing about it.
 */
export function runListRoute(scope: FastifyInstance, deps: { db: Db }): void {
  const { listRuns: route } = ROUTES;
  scope.withTypeProvider<ZodTypeProvider>().get(
    route.path,
    {
      schema: {
        summary: 'Runs newest first, filtered by tenant, application and status, in pages',
        tags: ['console'],
        querystring: route.querystring,
        response: {
          200: route.response[200].describe('one page of runs; nextCursor reads the next'),
          ...errorResponses(...KEYED, ...WITH_PARAMS, 404),
        },
      },
    },
    async (request) => {
      const { cursor, limit, ...filter } = request.query;
      const principal = request.principal;
      let tenantId = filter.tenantId;
      if (principal?.kind === 'tenant') {
        if (tenantId !== undefined && tenantId.toLowerCase() !== principal.tenantId) {
          throw tenantNotFound(tenantId);
        }
        tenantId = principal.tenantId;
      } else if (tenantId !== undefined) {
        const known = await deps.db
          .selectFrom('tenants')
          .select('id')
          .where('id', '=', tenantId)
          .executeTakeFirst();
        if (!known) throw tenantNotFound(tenantId);
      }
      return listRuns(
        deps.db,
        { ...filter, ...(tenantId ? { tenantId } : {}) },
        { limit, ...(cursor ? { cursor } : {}) },
      );
    },
  );
}

/** `POST …/sync-runs/:runId/retry`, in the scope limited to the key's tenant. */
export function runRetryRoute(
  scope: FastifyInstance,
  deps: { db: Db; queues: BackfillQueues; runRates: RunRateTracker; tenantQuotas: TenantQuotas },
): void {
  const { retryRun: route } = ROUTES;
  scope.withTypeProvider<ZodTypeProvider>().post(
    route.path,
    {
      schema: {
        summary:
          'Retry a failed run from its checkpoints: rows already published are not sent again',
        tags: ['runs'],
        params: route.params,
        response: {
          202: route.response[202].describe('the run, running again'),
          ...errorResponses(...KEYED, ...WITH_BODY, 404, 409),
        },
      },
    },
    async (request, reply) => {
      const { orgId, runId } = request.params;
      await getTenant(deps.db, orgId);
      const run = await retryRun(
        deps.db,
        deps.queues,
        orgId,
        runId,
        runQuotasFor(request.principal, deps.tenantQuotas),
      );
      request.log.info({ tenantId: orgId, runId }, 'failed run retried');
      return reply.status(202).send(viewRun(run, deps.runRates.observeRun(run)));
    },
  );
}
