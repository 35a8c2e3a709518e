import {
  type BackfillTestContext,
  createBackfillTestContext,
} from '@historical-sync/backfill/testing';
import { applicationStreams } from '@historical-sync/contracts';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../src/app';

export const ADMIN_KEY = 'test-admin-key-0123456789';
export const auth = { authorization: `Bearer ${ADMIN_KEY}` };

export interface ApiTestContext extends BackfillTestContext {
  app: FastifyInstance;
  /** The application's streams, prefixed for this test file: [credits, org_created, assignment_created]. */
  streams(appCode: string): { credits: string; organizations: string; memberships: string };
}

export async function createApiTestContext(label: string): Promise<ApiTestContext> {
  const context = await createBackfillTestContext(label);
  const app = await buildApp({
    db: context.db,
    queues: context.queues,
    settings: context.settings,
    logger: context.logger,
    adminApiKey: ADMIN_KEY,
    bodyLimitBytes: 64 * 1024,
  });
  return {
    ...context,
    app,
    streams: (appCode) => {
      const [credits, organizations, memberships] = applicationStreams(
        appCode,
        context.settings.streamPrefix,
      ) as [string, string, string];
      return { credits, organizations, memberships };
    },
    close: async () => {
      await app.close();
      await context.close();
    },
  };
}
