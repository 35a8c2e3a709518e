/** Builds the Fastify app (never listens: main.ts does), so tests drive it with inject(). */
import helmet from '@fastify/helmet';
import rateLimit from '@fastify/rate-limit';
import {
  type BackfillQueues,
  type BackfillSettings,
  DEFAULT_RETENTION,
  memoryHighRatioOf,
  type RedisClient,
  RunRateTracker,
  type TenantQuotas,
  TenantQuotasEnv,
  tenantQuotasFrom,
} from '@historical-sync/backfill';
import type { Db } from '@historical-sync/db';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  LogController,
} from 'fastify';
import { serializerCompiler } from 'fastify-type-provider-zod';
import type { Logger } from 'pino';
import { ApiKeyStore } from './auth/api-keys';
import {
  DEFAULT_DRY_RUN_LIMITS,
  DryRunLeases,
  type DryRunLimits,
  limitDryRuns,
} from './http/dry-run-limit';
import { readMissingBodyAsEmpty, zodValidatorCompiler } from './http/validation';
import { registerApiDocs } from './plugins/api-docs';
import { authenticate, FailedAttempts, limitToOwnTenant, requireAdmin } from './plugins/auth';
import { registerBullBoard } from './plugins/bull-board';
import { defaultConsoleDir, registerConsole } from './plugins/console';
import { registerErrorHandling } from './plugins/errors';
import { healthRoutes, metricsRoute, outboxRoute } from './plugins/observability';
import { trackRequestDurations } from './plugins/request-durations';
import { collectRoutes } from './plugins/route-catalog';
import { apiKeyRoutes } from './routes/api-keys';
import { applicationRoutes } from './routes/applications';
import { runLiveRoute } from './routes/run-live';
import { runListRoute, runRetryRoute } from './routes/runs';
import { systemRoute } from './routes/system';
import { tenantApplicationsRoute, tenantListRoute } from './routes/tenants';
import { verifyRoutes } from './routes/verify';
import { writeRoutes } from './routes/writes';

export interface AppDeps {
  db: Db;
  /** Where row counts are read (a replica: BACKFILL_DATABASE_URL); absent: `db`. */
  countsDb?: Db;
  redis: RedisClient;
  queues: BackfillQueues;
  settings: BackfillSettings;
  logger: Logger;
  adminApiKey: string;
  bodyLimitBytes: number;
  /** Requests per minute per API key; 0 turns the limit off. */
  rateLimitPerMinute: number;
  /** How long a key lookup is cached (a revoke elsewhere takes effect within this). */
  apiKeyCacheMs: number;
  /** Failed authentications a client address may make per minute before 429; 0 = no limit. */
  failedAuthPerMinute: number;
  /** Fastify's `trustProxy`: whether `X-Forwarded-For` names the client (off by default). */
  trustProxy?: boolean | string[];
  /** Quotas on what tenant keys may start (defaults: the settings' defaults). */
  tenantQuotas?: TenantQuotas;
  /** Bull Board allows every action, not only retrying failed jobs. */
  bullBoardWritable?: boolean;
  /** Live run streams (`…/live`) one API key may hold open in this process; default 5. */
  liveStreamsPerKey?: number;
  /** Longest a live run stream stays open before the client must reconnect; default 1 hour. */
  liveStreamMaxMs?: number;
  /** How long an application may take to answer a verification request; default 30 s. */
  verifyAnswerTimeoutMs?: number;
  /** Verifications running at once in this process; default 2. */
  verifyMaxConcurrent?: number;
  /** A tenant's dry runs at once, and all tenants', across API processes. */
  dryRunLimits?: DryRunLimits;
  /** Level of the one line logged per request (`REQUEST_LOG_LEVEL`); default `info`. */
  requestLogLevel?: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** The operator console's built files (`CONSOLE_DIR`); default the repository's apps/console/dist. */
  consoleDir?: string;
}

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    // Fastify's own request logging writes two entries per request, the whole request object in
    // the first; one line after the response (below) says the same in a fraction of the space.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: deps.bodyLimitBytes,
    trustProxy: deps.trustProxy ?? false,
    // Errors Fastify raises before routing (an undecodable URL, an over-long parameter) get the
    // API's one error shape too.
    frameworkErrors: (error, _request, reply) => {
      // Typed for a generic route; these errors come before any route.
      (reply as FastifyReply)
        .status(error.statusCode ?? 400)
        .send({ error: 'bad_request', message: error.message });
    },
  });
  const tenantQuotas = deps.tenantQuotas ?? tenantQuotasFrom(TenantQuotasEnv.parse({}));
  // Each route's zod schemas validate its input (a 400 naming the field) and serialize its
  // answers (a field not in the schema never leaves); the same schemas make the document.
  app.setValidatorCompiler(zodValidatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  readMissingBodyAsEmpty(app);
  collectRoutes(app);
  registerErrorHandling(app);
  const requestLogLevel = deps.requestLogLevel ?? 'info';
  if (requestLogLevel !== 'silent') {
    app.addHook('onResponse', async (request, reply) => {
      request.log[requestLogLevel](
        {
          method: request.method,
          url: request.url,
          statusCode: reply.statusCode,
          ms: Math.round(reply.elapsedTime),
        },
        'request',
      );
    });
  }
  // Before any route, so every route's answers are counted.
  const requestDurations = trackRequestDurations(app);
  app.decorateRequest('principal', null);
  await app.register(helmet, {
    // Bull Board's page needs its inline bootstrap script and styles; Swagger UI (/docs) loads
    // only its own files and inline styles.
    contentSecurityPolicy: {
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'", "'unsafe-inline'"],
        styleSrc: ["'self'", "'unsafe-inline'"],
        imgSrc: ["'self'", 'data:'],
        frameAncestors: ["'none'"],
      },
    },
  });

  await registerApiDocs(app);
  const observability = {
    ...deps,
    requestDurations,
    streamPrefix: deps.settings.streamPrefix,
    queuePrefix: deps.settings.queuePrefix,
    retention: deps.settings.retention ?? DEFAULT_RETENTION,
  };
  healthRoutes(app, observability);
  await registerConsole(app, deps.consoleDir ?? defaultConsoleDir());

  const keys = new ApiKeyStore(deps.db, {
    adminKey: deps.adminApiKey,
    cacheMs: deps.apiKeyCacheMs,
  });
  const failures = new FailedAttempts(deps.failedAuthPerMinute);
  // Recent publish rates of the runs this process is asked about (run views' eventsPerSecond).
  const runRates = new RunRateTracker();
  // Everything under /admin needs a key and counts against that key's rate limit.
  const guarded = async (scope: FastifyInstance, challenge: 'Bearer' | 'Basic') => {
    authenticate(scope, keys, failures, challenge);
    if (deps.rateLimitPerMinute > 0) {
      await scope.register(rateLimit, {
        max: deps.rateLimitPerMinute,
        timeWindow: 60_000,
        // Counted in this process's memory, not in Redis: a request never waits behind a
        // backfill's page transactions in Redis, and a Redis outage cannot fail it. With N API
        // processes a key gets up to N times the limit.
        keyGenerator: (request) => request.principal?.keyId ?? request.ip,
      });
    }
  };

  // Bounded across processes, so that a tenant's dry runs cannot pause every tenant's pages.
  const dryRuns = new DryRunLeases(
    deps.redis,
    deps.settings.queuePrefix,
    deps.dryRunLimits ?? DEFAULT_DRY_RUN_LIMITS,
    app.log,
  );
  await app.register(async (tenantScoped) => {
    await guarded(tenantScoped, 'Bearer');
    limitToOwnTenant(tenantScoped);
    limitDryRuns(tenantScoped, dryRuns);
    applicationRoutes(tenantScoped, { ...deps, tenantQuotas, runRates });
    writeRoutes(tenantScoped, deps);
    verifyRoutes(tenantScoped, {
      db: deps.db,
      redis: deps.redis,
      queues: deps.queues,
      settings: deps.settings,
      answerTimeoutMs: deps.verifyAnswerTimeoutMs ?? 30_000,
      maxConcurrent: deps.verifyMaxConcurrent ?? 2,
      tenantQuotas,
    });
    // The console's routes, validated and serialized by their zod schemas (contracts).
    await tenantScoped.register(async (consoleScope) => {
      tenantApplicationsRoute(consoleScope, deps);
      runRetryRoute(consoleScope, { ...deps, tenantQuotas, runRates });
      runLiveRoute(consoleScope, {
        db: deps.db,
        runRates,
        keys,
        maxPerKey: deps.liveStreamsPerKey ?? 5,
        ...(deps.liveStreamMaxMs ? { maxMs: deps.liveStreamMaxMs } : {}),
      });
    });
  });
  // Listings across tenants: any key; a tenant key's answers are filtered to its own tenant.
  await app.register(async (directory) => {
    await guarded(directory, 'Bearer');
    tenantListRoute(directory, deps);
    runListRoute(directory, deps);
  });
  await app.register(async (admin) => {
    await guarded(admin, 'Bearer');
    requireAdmin(admin);
    metricsRoute(admin, observability);
    outboxRoute(admin, deps);
    apiKeyRoutes(admin, keys);
    await admin.register(async (consoleScope) => {
      systemRoute(consoleScope, {
        ...observability,
        memoryHighRatio: memoryHighRatioOf(deps.settings),
      });
    });
  });
  await app.register(async (board) => {
    await guarded(board, 'Basic');
    requireAdmin(board);
    await registerBullBoard(board, deps.queues, { writable: deps.bullBoardWritable ?? false });
  });
  return app;
}
