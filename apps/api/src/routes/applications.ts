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
import type { Resource } from '@historical-sync/contracts';
import type { Db } from '@historical-sync/db';
import type { FastifyInstance } from 'fastify';
import { parseRequest } from '../http/parse';
import { checkTenantChoices, runQuotasFor } from '../http/tenant-limits';
import { AppCodeParams, RunParams, SyncBody, ToggleBody, ToggleParams } from './schemas';

export interface ApplicationRoutesDeps {
  db: Db;
  redis: RedisClient;
  queues: BackfillQueues;
  settings: BackfillSettings;
  tenantQuotas: TenantQuotas;
  /** Recent publish rates for the run view; without it they read null. */
  runRates?: RunRateTracker;
}

const runUrl = (tenantId: string, runId: string) =>
  `/admin/organizations/${tenantId}/sync-runs/${runId}`;

export function applicationRoutes(app: FastifyInstance, deps: ApplicationRoutesDeps): void {
  const { db, queues, settings, tenantQuotas } = deps;
  // Where pause, cancel and disable raise their barrier: the Redis the runs publish to.
  const barrier = { redis: deps.redis, streamPrefix: settings.streamPrefix };

  app.post('/admin/organizations/:orgId/applications/:appId/toggle', async (request) => {
    const params = parseRequest(ToggleParams, request.params, 'params');
    const body = parseRequest(ToggleBody, request.body, 'body');
    const quotas = runQuotasFor(request.principal, tenantQuotas);
    const result = await toggleApplication(db, barrier, {
      ...(quotas ? { quotas } : {}),
      tenantId: params.orgId,
      application: params.appId,
      isEnabled: body.isEnabled,
      skipHistoricalSync: body.skipHistoricalSync,
      pageSize: settings.pageSize,
      maxEventsPerSecond: settings.maxEventsPerSecond,
      partitions: settings.partitions,
    });
    const log = request.log.child({ tenantId: params.orgId, appCode: result.application.code });
    if (result.run && result.runCreated) {
      log.info({ runId: result.run.id }, 'application enabled; historical sync queued');
      enqueueInBackground(queues, result.run, log);
    } else if (result.changed) {
      log.info({ isEnabled: result.isEnabled }, 'application toggled');
    }
    if (result.cancelledRunId) await discardCancelledRun(queues, result.cancelledRunId, log);
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
  });

  app.post(
    '/admin/organizations/:orgId/applications/:appCode/sync-historical',
    async (request, reply) => {
      const params = parseRequest(AppCodeParams, request.params, 'params');
      const body = parseRequest(SyncBody, request.body, 'body');
      checkTenantChoices(request.principal, body, tenantQuotas);
      const resources: Resource[] = [
        ...(body.syncCredits ? (['credits'] as const) : []),
        ...(body.syncOrganizations ? (['organizations'] as const) : []),
        ...(body.syncAssignments ? (['memberships'] as const) : []),
      ];
      const result = await requestSync(db, {
        tenantId: params.orgId,
        application: params.appCode,
        resources,
        sinceDate: body.sinceDate,
        dryRun: body.dryRun,
        pageSize: body.pageSize ?? settings.pageSize,
        maxEventsPerSecond: body.maxEventsPerSecond ?? settings.maxEventsPerSecond,
        partitions: body.partitions ?? settings.partitions,
        quotas: runQuotasFor(request.principal, tenantQuotas),
      });
      if (result.dryRun) {
        const counts = result.counts;
        return {
          dryRun: true,
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

  app.get('/admin/organizations/:orgId/applications/:appCode/sync-status', async (request) => {
    const params = parseRequest(AppCodeParams, request.params, 'params');
    return getSyncStatus(db, params.orgId, params.appCode);
  });

  for (const action of ['pause', 'resume', 'cancel'] as const) {
    app.post(`/admin/organizations/:orgId/sync-runs/:runId/${action}`, async (request) => {
      const params = parseRequest(RunParams, request.params, 'params');
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
    });
  }

  app.get('/admin/organizations/:orgId/sync-runs/:runId', async (request) => {
    const params = parseRequest(RunParams, request.params, 'params');
    await getTenant(db, params.orgId);
    // Another tenant's run is as unknown as a missing one: the query itself compares the tenant.
    const run = await getTenantRun(db, params.orgId, params.runId);
    if (!run) {
      throw new NotFoundError(`run ${params.runId} not found`, 'runId');
    }
    return viewRun(run, deps.runRates?.observeRun(run));
  });
}
