/**
 * The spec's routes under /admin/organizations/:orgId (the tenant): toggle an application,
 * request a historical sync, read the sync status and one run.
 */
import {
  type BackfillQueues,
  type BackfillSettings,
  controlRun,
  discardCancelledRun,
  enqueueInBackground,
  getSyncStatus,
  getTenant,
  getTenantRun,
  NotFoundError,
  type RedisClient,
  type RunRateTracker,
  requestSync,
  type TenantQuotas,
  toggleApplication,
  viewRun,
} from '@historical-sync/backfill';
import { ROUTES, RUN_CONTROLS, selectedResources } from '@historical-sync/contracts';
import type { Db } from '@historical-sync/db';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { errorResponses, KEYED, WITH_BODY, WITH_PARAMS } from '../http/responses';
import { checkTenantChoices, runQuotasFor, runRateFor } from '../http/tenant-limits';

export interface ApplicationRoutesDeps {
  db: Db;
  /** Where the dry run's and sync-status's row counts are read (a replica); absent: `db`. */
  countsDb?: Db;
  redis: RedisClient;
  queues: BackfillQueues;
  settings: BackfillSettings;
  tenantQuotas: TenantQuotas;
  /** Recent publish rates for the run view; without it they read null. */
  runRates?: RunRateTracker;
}

/** Where the run is read: the table's run route with its parameters filled in. */
const runUrl = (tenantId: string, runId: string) =>
  ROUTES.getRun.path.replace(':orgId', tenantId).replace(':runId', runId);

export function applicationRoutes(scope: FastifyInstance, deps: ApplicationRoutesDeps): void {
  const app = scope.withTypeProvider<ZodTypeProvider>();
  const { db, queues, settings, tenantQuotas } = deps;
  // Where pause, cancel and disable raise their barrier: the Redis the runs publish to.
  const barrier = { redis: deps.redis, streamPrefix: settings.streamPrefix };
  const { toggleApplication: toggle, syncHistorical: sync, getSyncStatus: status } = ROUTES;

  app.post(
    toggle.path,
    {
      schema: {
        summary:
          'Enable or disable an application; an enable that changes the state starts one backfill run',
        tags: ['applications'],
        params: toggle.params,
        body: toggle.body,
        response: {
          200: toggle.response[200].describe('the enablement now, and the run an enable started'),
          // A disable raises the barrier of the run it cancels (503 without Redis).
          ...errorResponses(...KEYED, ...WITH_BODY, 404, 409, 503),
        },
      },
    },
    async (request) => {
      const { params, body } = request;
      const quotas = runQuotasFor(request.principal, tenantQuotas);
      const result = await toggleApplication(db, barrier, {
        ...(quotas ? { quotas } : {}),
        tenantId: params.orgId,
        application: params.appId,
        isEnabled: body.isEnabled,
        skipHistoricalSync: body.skipHistoricalSync,
        pageSize: settings.pageSize,
        maxEventsPerSecond: runRateFor(
          request.principal,
          undefined,
          settings.maxEventsPerSecond,
          tenantQuotas,
        ),
        partitions: settings.partitions,
      });
      const log = request.log.child({ tenantId: params.orgId, appCode: result.application.code });
      if (result.run && result.runCreated) {
        log.info({ runId: result.run.id }, 'application enabled; historical sync queued');
        enqueueInBackground(queues, result.run, log);
      } else if (result.changed) {
        log.info({ isEnabled: result.isEnabled }, 'application toggled');
      }
      for (const runId of result.cancelledRunIds) await discardCancelledRun(queues, runId, log);
      return {
        tenantId: params.orgId,
        application: { id: result.application.id, code: result.application.code },
        isEnabled: result.isEnabled,
        changed: result.changed,
        enabledAt: result.enabledAt?.toISOString() ?? null,
        disabledAt: result.disabledAt?.toISOString() ?? null,
        runId: result.run?.id ?? null,
        statusUrl: result.run ? runUrl(params.orgId, result.run.id) : null,
      };
    },
  );

  app.post(
    sync.path,
    {
      schema: {
        summary:
          'Manual historical sync: 202 when a run starts, 200 with the run already under way or with the counts of a dry run',
        tags: ['applications'],
        params: sync.params,
        body: sync.body,
        response: {
          200: sync.response[200].describe(
            'the run already under way, or (dryRun) the counts a sync would publish',
          ),
          202: sync.response[202].describe('a run was created and queued'),
          ...errorResponses(...KEYED, ...WITH_BODY, 404, 409),
        },
      },
    },
    async (request, reply) => {
      const { params, body } = request;
      checkTenantChoices(request.principal, body, tenantQuotas);
      const resources = selectedResources(body);
      const result = await requestSync(db, {
        countsDb: deps.countsDb ?? db,
        tenantId: params.orgId,
        application: params.appCode,
        resources,
        sinceDate: body.sinceDate,
        dryRun: body.dryRun,
        pageSize: body.pageSize ?? settings.pageSize,
        maxEventsPerSecond: runRateFor(
          request.principal,
          body.maxEventsPerSecond,
          settings.maxEventsPerSecond,
          tenantQuotas,
        ),
        partitions: body.partitions ?? settings.partitions,
        quotas: runQuotasFor(request.principal, tenantQuotas),
      });
      if (result.dryRun) {
        const counts = result.counts;
        return {
          dryRun: true as const,
          appCode: result.application.code,
          sinceDate: body.sinceDate,
          counts,
          total: Object.values(counts).reduce((sum, n) => sum + n, 0),
        };
      }
      if (result.created) {
        enqueueInBackground(queues, result.run, request.log.child({ tenantId: params.orgId }));
      }
      return reply.status(result.created ? 202 : 200).send({
        runId: result.run.id,
        status: result.run.status,
        created: result.created,
        statusUrl: runUrl(params.orgId, result.run.id),
      });
    },
  );

  app.get(
    status.path,
    {
      schema: {
        summary: 'Counts, whether a sync is needed, the latest run and the outbox backlog',
        tags: ['applications'],
        params: status.params,
        response: {
          200: status.response[200].describe('the sync status'),
          ...errorResponses(...KEYED, ...WITH_PARAMS, 404),
        },
      },
    },
    async (request) =>
      getSyncStatus(db, request.params.orgId, request.params.appCode, deps.countsDb ?? db),
  );

  // Every route of one run (read, controls) takes the same params and answers the run.
  const runSchema = (summary: string, control: boolean) => ({
    summary,
    tags: ['runs'],
    params: ROUTES.getRun.params,
    response: {
      200: ROUTES.getRun.response[200].describe('the run (after the control, for one)'),
      // A control answers 409 when the run's state does not allow it, 503 when its barrier
      // cannot be raised.
      ...errorResponses(
        ...KEYED,
        404,
        ...(control ? [...WITH_BODY, 409 as const, 503 as const] : WITH_PARAMS),
      ),
    },
  });
  const ACTION_SUMMARIES = {
    pause: 'Pause a run: nothing more is published once this answers',
    resume: 'Resume a paused run',
    cancel: 'Cancel a run: nothing more is published once this answers',
  } as const;

  for (const action of RUN_CONTROLS) {
    app.post(
      ROUTES[`${action}Run`].path,
      { schema: runSchema(ACTION_SUMMARIES[action], true) },
      async (request) => {
        const { params } = request;
        await getTenant(db, params.orgId);
        await controlRun(db, barrier, params.orgId, params.runId, action);
        request.log.info({ tenantId: params.orgId, runId: params.runId, action }, `run ${action}`);
        if (action === 'cancel') await discardCancelledRun(queues, params.runId, request.log);
        const run = await getTenantRun(db, params.orgId, params.runId);
        if (!run) throw new NotFoundError(`run ${params.runId} not found`, 'runId');
        // Parked jobs wait long for a resume; it wakes them now (a failure only delays them).
        if (action === 'resume') {
          await queues.wakeRun(run).catch((error: unknown) => {
            request.log.warn({ err: error, runId: run.id }, "could not wake the run's jobs");
          });
        }
        return viewRun(run);
      },
    );
  }

  app.get(
    ROUTES.getRun.path,
    { schema: runSchema("One run's progress", false) },
    async (request) => {
      const { params } = request;
      await getTenant(db, params.orgId);
      // Another tenant's run is as unknown as a missing one: the query itself compares the tenant.
      const run = await getTenantRun(db, params.orgId, params.runId);
      if (!run) {
        throw new NotFoundError(`run ${params.runId} not found`, 'runId');
      }
      return viewRun(run, deps.runRates?.observeRun(run));
    },
  );
}
