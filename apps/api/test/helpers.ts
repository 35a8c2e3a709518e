import type { BackfillSettings } from '@historical-sync/backfill';
import {
  type BackfillTestContext,
  createBackfillTestContext,
} from '@historical-sync/backfill/testing';
import { HISTORICAL_EVENT_TYPE, streamName } from '@historical-sync/contracts';
import { seedTenant } from '@historical-sync/db';
import type { FastifyInstance } from 'fastify';
import { expect } from 'vitest';
import { buildApp } from '../src/app';

export const ADMIN_KEY = 'test-admin-key-0123456789';
export const auth = { authorization: `Bearer ${ADMIN_KEY}` };

export interface ApiTestContext extends BackfillTestContext {
  app: FastifyInstance;
  /** The streams the backfill publishes each resource to, prefixed for this test file. */
  streams(appCode: string): { credits: string; organizations: string; memberships: string };
}

export interface ApiTestOptions {
  /** Backfill settings other than the test defaults. */
  settings?: Partial<BackfillSettings>;
  /** Off unless a test is about it. */
  rateLimitPerMinute?: number;
  apiKeyCacheMs?: number;
  failedAuthPerMinute?: number;
}

export async function createApiTestContext(
  label: string,
  options: ApiTestOptions = {},
): Promise<ApiTestContext> {
  const context = await createBackfillTestContext(label, options.settings);
  const app = await buildApp({
    db: context.db,
    redis: context.redis,
    queues: context.queues,
    settings: context.settings,
    logger: context.logger,
    adminApiKey: ADMIN_KEY,
    bodyLimitBytes: 64 * 1024,
    rateLimitPerMinute: options.rateLimitPerMinute ?? 0,
    apiKeyCacheMs: options.apiKeyCacheMs ?? 0,
    failedAuthPerMinute: options.failedAuthPerMinute ?? 0,
  });
  return {
    ...context,
    app,
    streams: (appCode) => {
      const name = (resource: keyof typeof HISTORICAL_EVENT_TYPE) =>
        streamName(HISTORICAL_EVENT_TYPE[resource], appCode, context.settings.streamPrefix);
      return {
        credits: name('credits'),
        organizations: name('organizations'),
        memberships: name('memberships'),
      };
    },
    close: async () => {
      await app.close();
      await context.close();
    },
  };
}

/**
 * A tenant with `memberships` memberships and crm enabled without a run, then a memberships-only
 * sync with `body` (pageSize, maxEventsPerSecond, ...): the ids of the tenant and the run.
 */
export async function startMembershipsSync(
  t: ApiTestContext,
  tenantName: string,
  memberships: number,
  body: object = {},
): Promise<{ tenantId: string; runId: string }> {
  const { tenantId } = await seedTenant(t.db, {
    tenantName,
    organizations: 5,
    memberships,
    creditAllocations: 0,
    app: 'crm',
    seed: 4,
  });
  await t.app.inject({
    method: 'POST',
    url: `/admin/organizations/${tenantId}/applications/crm/toggle`,
    headers: auth,
    payload: { isEnabled: true, skipHistoricalSync: true },
  });
  const response = await t.app.inject({
    method: 'POST',
    url: `/admin/organizations/${tenantId}/applications/crm/sync-historical`,
    headers: auth,
    payload: { syncCredits: false, syncOrganizations: false, ...body },
  });
  expect(response.statusCode, response.body).toBe(202);
  return { tenantId, runId: response.json().runId as string };
}
