/**
 * Machinery of the fault-injection tests (test/faults.test.ts): a database and queue / stream
 * names of their own on any Postgres and Redis (the suite's, or a dedicated server a test
 * restarts), worker processes that are always ended, and the audit that counts what reached the
 * streams against the rows in Postgres.
 */
import { randomBytes } from 'node:crypto';
import {
  BackfillQueues,
  checkpointKey,
  getRun,
  type RunWithResources,
  toggleApplication,
} from '@historical-sync/backfill';
import {
  EVENT_FIELD,
  HISTORICAL_EVENT_TYPE,
  isSyncMarker,
  RESOURCES,
  type Resource,
  StreamEvent,
  type SyncEvent,
  streamName,
  subjectIdOf,
} from '@historical-sync/contracts';
import { type RunStatus, seedTenant } from '@historical-sync/db';
import { createTestDatabase, type TestDatabase } from '@historical-sync/db/testing';
import { Redis } from 'ioredis';
import { sql } from 'kysely';
import { type Command, killCommand, runApp } from './helpers';

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Rows of one seeded tenant: `memberships` of them, plus organizations and credits in proportion. */
export function tenantRows(memberships: number) {
  return {
    memberships,
    organizations: Math.max(20, Math.round(memberships / 20)),
    creditAllocations: Math.max(10, Math.round(memberships / 10)),
  };
}

export interface StartedRun {
  tenantId: string;
  appCode: string;
  runId: string;
}

export interface ResourceAudit {
  /** Rows the run must publish (read from Postgres with the backfill's own conditions). */
  expected: number;
  /** Row events of this run on the stream. */
  delivered: number;
  /** Entries beyond the first for an eventId. */
  duplicates: number;
  /** Expected rows with no event. */
  missing: string[];
  /** Events for rows that are not expected. */
  unexpected: string[];
  /** sync.started / sync.completed markers of this run on the stream. */
  markers: { started: number; completed: number };
  /** What Postgres recorded: the status endpoint's mirror of the checkpoint. */
  recorded: { status: string; published: number; total: number | null };
}

export interface RunAudit {
  resources: Record<Resource, ResourceAudit>;
  expected: number;
  delivered: number;
  duplicates: number;
  losses: number;
}

export interface FaultContextOptions {
  label: string;
  /** Postgres server to create the test database on; default DATABASE_URL's. */
  serverUrl?: string;
  /** Redis the workers use; default REDIS_URL. */
  redisUrl?: string;
  pageSize: number;
}

export class FaultContext {
  readonly unique = `t${randomBytes(4).toString('hex')}`;
  readonly queuePrefix = this.unique;
  readonly streamPrefix = `${this.unique}:`;
  readonly redis: Redis;
  readonly queues: BackfillQueues;
  private readonly workers: Command[] = [];
  private readonly apis: Command[] = [];

  private constructor(
    readonly database: TestDatabase,
    readonly redisUrl: string,
    readonly pageSize: number,
  ) {
    this.redis = new Redis(redisUrl, { maxRetriesPerRequest: null });
    // Errors while a test restarts Redis are expected; commands wait for the reconnect.
    this.redis.on('error', () => {});
    this.queues = new BackfillQueues(this.redis, this.queuePrefix);
    for (const queue of this.queues.all()) queue.on('error', () => {});
  }

  static async create(options: FaultContextOptions): Promise<FaultContext> {
    const redisUrl = options.redisUrl ?? process.env.REDIS_URL;
    if (!redisUrl)
      throw new Error('REDIS_URL is not set: run tests with `npm test` from the root.');
    const database = await createTestDatabase(
      options.label,
      options.serverUrl ? { serverUrl: options.serverUrl } : {},
    );
    return new FaultContext(database, redisUrl, options.pageSize);
  }

  get db() {
    return this.database.db;
  }

  /** A worker's environment: this context's names, a short lock so a dead worker's job moves on. */
  env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
    return {
      ...process.env,
      DATABASE_URL: this.database.url,
      REDIS_URL: this.redisUrl,
      QUEUE_PREFIX: this.queuePrefix,
      STREAM_PREFIX: this.streamPrefix,
      BACKFILL_PAGE_SIZE: String(this.pageSize),
      // Source protection would slow these pages for the other suites' load on a shared test
      // machine; it has its own tests (packages/backfill/test/source-protection.test.ts).
      BACKFILL_SOURCE_PROTECTION: 'off',
      LOG_LEVEL: 'info',
      WORKER_LOCK_DURATION_MS: '2000',
      WORKER_STALLED_INTERVAL_MS: '1000',
      ...extra,
    };
  }

  /** Starts a worker process (its real entry point), ended by `close` whatever happens. */
  startWorker(extra: Record<string, string> = {}): Command {
    const worker = runApp('worker', this.env(extra));
    this.workers.push(worker);
    return worker;
  }

  /** Starts the API process on `port`; it outlives `stopWorkers` and is ended by `close`. */
  startApi(port: number): Command {
    const api = runApp('api', this.env({ PORT: String(port), ADMIN_API_KEY: 'faults-admin-key' }));
    this.apis.push(api);
    return api;
  }

  /** Seeds a tenant, enables `appCode` for it and enqueues the run, as the toggle route does. */
  async startRun(options: {
    tenantName: string;
    seed: number;
    memberships: number;
    appCode?: string;
    maxEventsPerSecond?: number;
    /** Runs between seeding and enabling, e.g. to break a row. */
    beforeEnable?: (tenantId: string) => Promise<void>;
  }): Promise<StartedRun> {
    const appCode = options.appCode ?? 'crm';
    const { tenantId } = await seedTenant(this.db, {
      tenantName: options.tenantName,
      app: appCode,
      seed: options.seed,
      ...tenantRows(options.memberships),
    });
    await options.beforeEnable?.(tenantId);
    const { run } = await toggleApplication(
      this.db,
      { redis: this.redis, streamPrefix: this.streamPrefix },
      {
        tenantId,
        application: appCode,
        isEnabled: true,
        skipHistoricalSync: false,
        pageSize: this.pageSize,
        maxEventsPerSecond: options.maxEventsPerSecond ?? null,
      },
    );
    if (!run) throw new Error('the enablement started no run');
    await this.queues.enqueueRun(run);
    return { tenantId, appCode, runId: run.id };
  }

  stream(resource: Resource, appCode: string): string {
    return streamName(HISTORICAL_EVENT_TYPE[resource], appCode, this.streamPrefix);
  }

  /** Events the run has published so far, by its checkpoints in Redis (the source of truth). */
  async published(run: StartedRun): Promise<number> {
    const counts = await Promise.all(
      RESOURCES.map((resource) =>
        this.redis.hget(
          checkpointKey(this.stream(resource, run.appCode), run.runId, resource),
          'published',
        ),
      ),
    );
    return counts.reduce((sum, n) => sum + Number(n ?? 0), 0);
  }

  /** Polls until the run's checkpoints have published at least `events`; false if it ended first. */
  async waitForPublished(run: StartedRun, events: number, timeoutMs = 60_000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    for (let i = 0; ; i++) {
      if ((await this.published(run)) >= events) return true;
      // Polled tightly (a fault lands close to its point); the run's status now and then.
      if (i % 50 === 49) {
        const status = (await getRun(this.db, run.runId))?.status;
        if (status === 'completed' || status === 'failed' || status === 'cancelled') return false;
      }
      if (Date.now() > deadline) throw new Error(`run ${run.runId} stuck below ${events} events`);
      await sleep(2);
    }
  }

  /** Waits for one of `statuses`; fails early when `worker` (the one expected to get there) dies. */
  async waitForRun(
    runId: string,
    statuses: RunStatus[],
    timeoutMs: number,
    worker?: Command,
  ): Promise<RunWithResources> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const run = await getRun(this.db, runId);
      if (run && statuses.includes(run.status)) return run;
      const died = worker && (worker.child.exitCode !== null || worker.child.signalCode !== null);
      if (died || Date.now() > deadline) {
        throw new Error(
          `run ${runId} is ${run?.status ?? 'missing'} (${run?.last_error ?? ''}), not ` +
            `${statuses.join('/')}${died ? '; its worker exited' : ''}\n` +
            (worker?.output().slice(-5_000) ?? ''),
        );
      }
      await sleep(50);
    }
  }

  /** The row ids a run of `appCode` must publish, with the backfill's own conditions. */
  async expectedIds(tenantId: string, appCode: string): Promise<Record<Resource, Set<string>>> {
    const ids = async (query: ReturnType<typeof sql<{ id: string }>>) =>
      new Set((await query.execute(this.db)).rows.map((r) => r.id));
    return {
      credits: await ids(sql<{ id: string }>`
        SELECT id FROM credit_allocations
        WHERE tenant_id = ${tenantId} AND target_application = ${appCode} AND is_active`),
      organizations: await ids(sql<{ id: string }>`
        SELECT id FROM entities WHERE tenant_id = ${tenantId} AND entity_type = 'organization'`),
      memberships: await ids(sql<{ id: string }>`
        SELECT id FROM organization_memberships WHERE tenant_id = ${tenantId} AND is_active`),
    };
  }

  /** Every entry of the run on its three streams, against the rows it must publish. */
  async audit(run: StartedRun): Promise<RunAudit> {
    const expected = await this.expectedIds(run.tenantId, run.appCode);
    const recorded = await getRun(this.db, run.runId);
    const resources = {} as Record<Resource, ResourceAudit>;
    for (const resource of RESOURCES) {
      const eventIds = new Set<string>();
      const subjects = new Set<string>();
      const markers = { started: 0, completed: 0 };
      let delivered = 0;
      for (const event of await this.readStream(this.stream(resource, run.appCode), run.runId)) {
        if (isSyncMarker(event)) {
          if (event.resource === resource) {
            markers[event.eventType === 'sync.started' ? 'started' : 'completed'] += 1;
          }
          continue;
        }
        if (event.eventType !== HISTORICAL_EVENT_TYPE[resource]) continue;
        delivered += 1;
        eventIds.add(event.eventId);
        subjects.add(subjectIdOf(event));
      }
      const want = expected[resource];
      resources[resource] = {
        expected: want.size,
        delivered,
        duplicates: delivered - eventIds.size,
        missing: [...want].filter((id) => !subjects.has(id)),
        unexpected: [...subjects].filter((id) => !want.has(id)),
        markers,
        recorded: (({ status, published, total }) => ({ status, published, total }))(
          recorded?.resources.find((r) => r.resource === resource) ?? {
            status: 'missing',
            published: 0,
            total: null,
          },
        ),
      };
    }
    const all = Object.values(resources);
    const sum = (f: (r: ResourceAudit) => number) => all.reduce((n, r) => n + f(r), 0);
    return {
      resources,
      expected: sum((r) => r.expected),
      delivered: sum((r) => r.delivered),
      duplicates: sum((r) => r.duplicates),
      losses: sum((r) => r.missing.length),
    };
  }

  /** The run's row events on a resource's stream, markers left out. */
  async readRunEvents(run: StartedRun, resource: Resource): Promise<SyncEvent[]> {
    const events = await this.readStream(this.stream(resource, run.appCode), run.runId);
    return events.filter((e): e is SyncEvent => !isSyncMarker(e));
  }

  /** Every entry of the stream that belongs to `runId`. */
  private async readStream(stream: string, runId: string): Promise<StreamEvent[]> {
    const events: StreamEvent[] = [];
    let start = '-';
    for (;;) {
      const entries = await this.redis.xrange(stream, start, '+', 'COUNT', 5_000);
      for (const [, fields] of entries) {
        const json = fields[fields.indexOf(EVENT_FIELD) + 1] as string;
        const event = StreamEvent.parse(JSON.parse(json));
        if (event.runId === runId) events.push(event);
      }
      const last = entries[entries.length - 1];
      if (!last || entries.length < 5_000) return events;
      start = `(${last[0]}`;
    }
  }

  /** Ends every worker this context started: SIGTERM (after SIGCONT), SIGKILL if it lingers. */
  async stopWorkers(processes: Command[] = this.workers): Promise<void> {
    await Promise.all(
      processes.map(async (worker) => {
        if (worker.child.exitCode !== null || worker.child.signalCode !== null) return;
        worker.child.kill('SIGCONT');
        worker.child.kill('SIGTERM');
        const exited = await Promise.race([worker.exit(), sleep(10_000).then(() => null)]);
        if (!exited) await killCommand(worker);
      }),
    );
  }

  async close(): Promise<void> {
    await this.stopWorkers([...this.workers, ...this.apis]);
    await this.queues.close();
    const keys = await this.redis.keys(`*${this.unique}*`);
    for (let i = 0; i < keys.length; i += 500) await this.redis.del(...keys.slice(i, i + 500));
    this.redis.disconnect();
    await this.database.destroy();
  }
}

/** One line of the table the test file prints at the end. */
export interface FaultReport {
  fault: string;
  runs: number;
  expected: number;
  delivered: number;
  duplicates: number;
  losses: number;
}

export function markdownTable(reports: FaultReport[]): string {
  const lines = [
    '| fault injected | runs | events expected | events delivered | duplicates | losses |',
    '| --- | ---: | ---: | ---: | ---: | ---: |',
    ...reports.map(
      (r) =>
        `| ${r.fault} | ${r.runs} | ${r.expected} | ${r.delivered} | ${r.duplicates} | ${r.losses} |`,
    ),
  ];
  return lines.join('\n');
}
