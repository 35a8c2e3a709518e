/** The console's run history across tenants, and retry of a failed run. */
import {
  type BackfillQueues,
  getTenant,
  listRuns,
  type RunRateTracker,
  retryRun,
  tenantNotFound,
  viewRun,
} from '@historical-sync/backfill';
import {
  ErrorBody,
  RunListQuery,
  RunListResponse,
  RunRouteParams,
  RunViewSchema,
} from '@historical-sync/contracts';
import type { Db } from '@historical-sync/db';
import { NotFoundError } from '@historical-sync/domain';
import type { FastifyInstance } from 'fastify';
import { withZod } from '../http/zod-provider';

const errors = { 400: ErrorBody, 404: ErrorBody, 409: ErrorBody };

/**
 * `GET /admin/sync-runs`. A tenant key lists its own tenant's runs only: naming another tenant
 * answers 404 exactly as an unknown tenant does, so it learns nothing about it.
 */
export function runListRoute(scope: FastifyInstance, deps: { db: Db }): void {
  withZod(scope).get(
    '/admin/sync-runs',
    { schema: { querystring: RunListQuery, response: { 200: RunListResponse, ...errors } } },
    async (request) => {
      const { cursor, limit, ...filter } = request.query;
      const principal = request.principal;
      let tenantId = filter.tenantId;
      if (principal?.kind === 'tenant') {
        if (tenantId !== undefined && tenantId.toLowerCase() !== principal.tenantId) {
          throw withField(tenantNotFound(tenantId));
        }
        tenantId = principal.tenantId;
      } else if (tenantId !== undefined) {
        const known = await deps.db
          .selectFrom('tenants')
          .select('id')
          .where('id', '=', tenantId)
          .executeTakeFirst();
        if (!known) throw withField(tenantNotFound(tenantId));
      }
      return listRuns(
        deps.db,
        { ...filter, ...(tenantId ? { tenantId } : {}) },
        { limit, ...(cursor ? { cursor } : {}) },
      );
    },
  );
}

const withField = (error: NotFoundError) => new NotFoundError(error.message, 'tenantId');

/** `POST …/sync-runs/:runId/retry`, in the scope limited to the key's tenant. */
export function runRetryRoute(
  scope: FastifyInstance,
  deps: { db: Db; queues: BackfillQueues; runRates: RunRateTracker },
): void {
  withZod(scope).post(
    '/admin/organizations/:orgId/sync-runs/:runId/retry',
    { schema: { params: RunRouteParams, response: { 202: RunViewSchema, ...errors } } },
    async (request, reply) => {
      const { orgId, runId } = request.params;
      await getTenant(deps.db, orgId);
      const run = await retryRun(deps.db, deps.queues, orgId, runId);
      request.log.info({ tenantId: orgId, runId }, 'failed run retried');
      return reply.status(202).send(viewRun(run, deps.runRates.observeRun(run)));
    },
  );
}
