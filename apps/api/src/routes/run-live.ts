/**
 * `GET …/sync-runs/:runId/live`: the run view as server-sent events. An `event: run` at once and
 * whenever the view changes (checked every LIVE_CHECK_MS, one query per stream), a comment every
 * LIVE_HEARTBEAT_MS so proxies keep the connection, and the end of the stream once a final state
 * has been sent. Bounded: `maxPerKey` open streams per API key in this process (429 beyond), each
 * closed when its client goes away or after LIVE_MAX_MS (a client reconnects for more).
 */
import {
  getTenant,
  getTenantRun,
  NotFoundError,
  type RunRateTracker,
  viewRun,
} from '@historical-sync/backfill';
import { ErrorBody, FINAL_RUN_STATUSES, RunRouteParams } from '@historical-sync/contracts';
import type { Db } from '@historical-sync/db';
import { SyncError } from '@historical-sync/domain';
import type { FastifyInstance } from 'fastify';
import { withZod } from '../http/zod-provider';

export const LIVE_CHECK_MS = 1_000;
export const LIVE_HEARTBEAT_MS = 15_000;
export const LIVE_MAX_MS = 60 * 60_000;

class TooManyStreamsError extends SyncError {
  constructor(max: number) {
    super(429, 'too_many_requests', `at most ${max} live streams per API key at once`);
  }
}

export interface LiveRouteDeps {
  db: Db;
  runRates: RunRateTracker;
  /** Open streams one API key may hold in this process. */
  maxPerKey: number;
  checkMs?: number;
  heartbeatMs?: number;
}

export function runLiveRoute(scope: FastifyInstance, deps: LiveRouteDeps): void {
  const open = new Map<string, number>();
  const checkMs = deps.checkMs ?? LIVE_CHECK_MS;
  const heartbeatMs = deps.heartbeatMs ?? LIVE_HEARTBEAT_MS;
  withZod(scope).get(
    '/admin/organizations/:orgId/sync-runs/:runId/live',
    {
      schema: {
        params: RunRouteParams,
        response: { 400: ErrorBody, 404: ErrorBody, 429: ErrorBody },
      },
    },
    async (request, reply) => {
      const { orgId, runId } = request.params;
      const keyId = request.principal?.keyId ?? request.ip;
      if ((open.get(keyId) ?? 0) >= deps.maxPerKey) throw new TooManyStreamsError(deps.maxPerKey);
      // Counted before the first await, so concurrent requests of one key cannot all pass.
      open.set(keyId, (open.get(keyId) ?? 0) + 1);
      const release = () => {
        const left = (open.get(keyId) ?? 1) - 1;
        if (left > 0) open.set(keyId, left);
        else open.delete(keyId);
      };
      const read = async () => {
        const run = await getTenantRun(deps.db, orgId, runId);
        return run && viewRun(run, deps.runRates.observeRun(run));
      };
      let first: Awaited<ReturnType<typeof read>>;
      try {
        await getTenant(deps.db, orgId);
        first = await read();
      } catch (error) {
        release();
        throw error;
      }
      if (!first) {
        release();
        throw new NotFoundError(`run ${runId} not found`, 'runId');
      }

      reply.hijack();
      const raw = reply.raw;
      raw.writeHead(200, {
        ...(reply.getHeaders() as Record<string, string>),
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        connection: 'keep-alive',
        // Proxies (nginx) pass each event on at once instead of buffering them.
        'x-accel-buffering': 'no',
      });
      let closed = false;
      let last = '';
      const send = (view: NonNullable<Awaited<ReturnType<typeof read>>>) => {
        // The rate moves every read; only a change of the run itself is news.
        const { eventsPerSecond: _rate, etaSeconds: _eta, ...state } = view;
        const key = JSON.stringify(state);
        if (key === last) return;
        last = key;
        raw.write(`event: run\ndata: ${JSON.stringify(view)}\n\n`);
      };
      const close = () => {
        if (closed) return;
        closed = true;
        clearInterval(checker);
        clearInterval(heartbeat);
        clearTimeout(lifetime);
        release();
        raw.end();
      };
      const isFinal = (status: string) =>
        (FINAL_RUN_STATUSES as readonly string[]).includes(status);
      let checking = false;
      const check = async () => {
        if (closed || checking) return;
        checking = true;
        try {
          const view = await read();
          if (closed) return;
          if (!view) return close(); // the tenant was deleted meanwhile
          send(view);
          if (isFinal(view.status)) close();
        } catch (error) {
          request.log.warn({ err: error, runId }, 'live stream could not read its run; retrying');
        } finally {
          checking = false;
        }
      };
      const checker = setInterval(() => void check(), checkMs);
      const heartbeat = setInterval(() => raw.write(': heartbeat\n\n'), heartbeatMs);
      const lifetime = setTimeout(close, LIVE_MAX_MS);
      // The response closes when the client goes away (or after our own end).
      raw.on('close', close);
      send(first);
      if (isFinal(first.status)) close();
    },
  );
}
