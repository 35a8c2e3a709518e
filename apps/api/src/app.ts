/** Builds the Fastify app (never listens: main.ts does), so tests drive it with inject(). */
import type { BackfillQueues, BackfillSettings, RedisClient } from '@historical-sync/backfill';
import type { Db } from '@historical-sync/db';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { openApiDocument } from './openapi';
import { requireAdminKey } from './plugins/admin-auth';
import { registerBullBoard } from './plugins/bull-board';
import { registerErrorHandling } from './plugins/errors';
import { healthRoutes, metricsRoute } from './plugins/observability';
import { applicationRoutes } from './routes/applications';
import { writeRoutes } from './routes/writes';

export interface AppDeps {
  db: Db;
  redis: RedisClient;
  queues: BackfillQueues;
  settings: BackfillSettings;
  logger: Logger;
  adminApiKey: string;
  bodyLimitBytes: number;
}

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    bodyLimit: deps.bodyLimitBytes,
  });
  registerErrorHandling(app);

  const observability = { ...deps, streamPrefix: deps.settings.streamPrefix };
  healthRoutes(app, observability);
  const openApi = openApiDocument();
  app.get('/docs', async () => openApi);

  await registerBullBoard(app, deps.queues, deps.adminApiKey);
  await app.register(async (admin) => {
    requireAdminKey(admin, deps.adminApiKey);
    applicationRoutes(admin, deps);
    writeRoutes(admin, deps);
    metricsRoute(admin, observability);
  });
  return app;
}
