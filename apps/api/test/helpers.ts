import {
  type BackfillSettings,
  type TenantQuotas,
  TenantQuotasEnv,
  tenantQuotasFrom,
} from '@historical-sync/backfill';
import {
  type BackfillTestContext,
  createBackfillTestContext,
} from '@historical-sync/backfill/testing';
import { HISTORICAL_EVENT_TYPE, streamName } from '@historical-sync/contracts';
import { type Db, seedTenant } from '@historical-sync/db';
import type { FastifyInstance } from 'fastify';
import type {
  KyselyPlugin,
  PluginTransformQueryArgs,
  PluginTransformResultArgs,
  QueryId,
  QueryResult,
  RootOperationNode,
  UnknownRow,
} from 'kysely';
import { expect } from 'vitest';
import { buildApp } from '../src/app';

export const ADMIN_KEY = 'test-admin-key-0123456789';
export const auth = { authorization: `Bearer ${ADMIN_KEY}` };

export interface ApiTestContext extends BackfillTestContext {
  app: FastifyInstance;
  /** With `recordQueries`: the statements the app sent, in order (clear it between requests). */
  queries: RecordedQuery[];
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
  trustProxy?: boolean | string[];
  /** Tenant quotas other than the settings' defaults. */
  tenantQuotas?: Partial<TenantQuotas>;
  bullBoardWritable?: boolean;
  /** Record every statement the app sends to Postgres in `queries`. */
  recordQueries?: boolean;
  /** Where the console's build is (default: the repository's apps/console/dist). */
  consoleDir?: string;
  liveStreamsPerKey?: number;
  liveStreamMaxMs?: number;
  /** How long the application may take to answer a verification request (default 0.3 s here). */
  verifyAnswerTimeoutMs?: number;
}

/** One statement the app sent to Postgres, and how many rows came back. */
export interface RecordedQuery {
  sql: string;
  rows: number;
}

/** Records each statement's SQL text and the number of rows it returned. */
class QueryRecorder implements KyselyPlugin {
  readonly queries: RecordedQuery[] = [];
  private readonly pending = new WeakMap<QueryId, string>();

  constructor(private readonly compile: (node: RootOperationNode, id: QueryId) => string) {}

  transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
    this.pending.set(args.queryId, this.compile(args.node, args.queryId));
    return args.node;
  }

  async transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    this.queries.push({ sql: this.pending.get(args.queryId) ?? '', rows: args.result.rows.length });
    return args.result;
  }
}

function recording(db: Db): { db: Db; queries: RecordedQuery[] } {
  const executor = db.getExecutor();
  const recorder = new QueryRecorder((node, id) => executor.compileQuery(node, id).sql);
  return { db: db.withPlugin(recorder), queries: recorder.queries };
}

export async function createApiTestContext(
  label: string,
  options: ApiTestOptions = {},
): Promise<ApiTestContext> {
  const context = await createBackfillTestContext(label, options.settings);
  const traced = options.recordQueries ? recording(context.db) : { db: context.db, queries: [] };
  const app = await buildApp({
    db: traced.db,
    redis: context.redis,
    queues: context.queues,
    settings: context.settings,
    logger: context.logger,
    adminApiKey: ADMIN_KEY,
    bodyLimitBytes: 64 * 1024,
    rateLimitPerMinute: options.rateLimitPerMinute ?? 0,
    apiKeyCacheMs: options.apiKeyCacheMs ?? 0,
    failedAuthPerMinute: options.failedAuthPerMinute ?? 0,
    trustProxy: options.trustProxy ?? false,
    tenantQuotas: { ...tenantQuotasFrom(TenantQuotasEnv.parse({})), ...options.tenantQuotas },
    bullBoardWritable: options.bullBoardWritable ?? false,
    ...(options.consoleDir ? { consoleDir: options.consoleDir } : {}),
    ...(options.liveStreamsPerKey ? { liveStreamsPerKey: options.liveStreamsPerKey } : {}),
    ...(options.liveStreamMaxMs ? { liveStreamMaxMs: options.liveStreamMaxMs } : {}),
    // Most tests run no application to answer: a verification then fails fast.
    verifyAnswerTimeoutMs: options.verifyAnswerTimeoutMs ?? 300,
  });
  return {
    ...context,
    app,
    queries: traced.queries,
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

/** A key scoped to `tenantId`, created through the API (its secret is in this answer only). */
export async function createTenantKey(t: ApiTestContext, tenantId: string): Promise<string> {
  const response = await t.app.inject({
    method: 'POST',
    url: '/admin/api-keys',
    headers: auth,
    payload: { name: `tenant ${tenantId}`, tenantId },
  });
  expect(response.statusCode, response.body).toBe(201);
  return response.json().key as string;
}

/** A run's status as Postgres has it now. */
export async function runStatus(t: ApiTestContext, runId: string): Promise<string> {
  const run = await t.db
    .selectFrom('backfill_runs')
    .select('status')
    .where('id', '=', runId)
    .executeTakeFirstOrThrow();
  return run.status;
}
