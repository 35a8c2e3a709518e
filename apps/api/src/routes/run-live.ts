/**
 * `GET …/sync-runs/:runId/live`: the run view as server-sent events. An `event: run` at once and
 * whenever the view changes (checked every LIVE_CHECK_MS, one query per stream), a comment every
 * LIVE_HEARTBEAT_MS so proxies keep the connection, and the end of the stream once an ended state
 * has been sent. Bounded: `maxPerKey` open streams per API key in this process (429 beyond), each
 * closed when its client goes away, after LIVE_MAX_MS (a client reconnects for more), when its key
 * is revoked (at once through this process, within LIVE_KEY_CHECK_MS through another) and when
 * the server closes; its slot is freed on every one of these paths (live-streams.ts).
 */
import {
  getTenant,
  getTenantRun,
  NotFoundError,
  type RunRateTracker,
  viewRun,
} from '@historical-sync/backfill';
import { ENDED_RUN_STATUSES, ROUTES } from '@historical-sync/contracts';
import type { Db } from '@historical-sync/db';
import { SyncError } from '@historical-sync/domain';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { errorResponses, KEYED, WITH_PARAMS } from '../http/responses';
import { type KeyValidity, LiveStreams } from './live-streams';

export const LIVE_CHECK_MS = 1_000;
export const LIVE_HEARTBEAT_MS = 15_000;
export const LIVE_MAX_MS = 60 * 60_000;

class TooManyStreamsError extends SyncError {
  constructor(max: number) {
    super(429, 'too_many_requests', `at most ${max} live streams per API key at once`);
  }
}

/** The key was revoked while its stream was being set up (the auth hook's answer, later). */
class KeyRevokedError extends SyncError {
  constructor() {
    super(401, 'unauthorized', 'missing, invalid or revoked API key');
  }
}

export interface LiveRouteDeps {
  db: Db;
  runRates: RunRateTracker;
  /** Whether the keys holding streams are still valid, and word of each revoke. */
  keys: KeyValidity;
  /** Open streams one API key may hold in this process. */
  maxPerKey: number;
  checkMs?: number;
  heartbeatMs?: number;
  /** Longest a stream stays open (default LIVE_MAX_MS); the client reconnects for more. */
  maxMs?: number;
}

export function runLiveRoute(scope: FastifyInstance, deps: LiveRouteDeps): void {
  const streams = new LiveStreams(deps.keys, { maxPerKey: deps.maxPerKey, log: scope.log });
  // Open streams would hold the server's close for up to their lifetime.
  scope.addHook('preClose', async () => streams.closeAll());
  const checkMs = deps.checkMs ?? LIVE_CHECK_MS;
  const heartbeatMs = deps.heartbeatMs ?? LIVE_HEARTBEAT_MS;
  const { watchRun: route } = ROUTES;
  scope.withTypeProvider<ZodTypeProvider>().get(
    route.path,
    {
      schema: {
        summary:
          "A run's progress as server-sent events (`event: run`, data: the run), until it ends",
        tags: ['runs'],
        params: route.params,
        response: {
          200: {
            description:
              'an event stream: `event: run` with the run (as GET …/sync-runs/:runId) at once and on each change, a comment every 15 s; it ends after the run reaches completed, failed or cancelled',
            content: { 'text/event-stream': { schema: z.string() } },
          },
          ...errorResponses(...KEYED, ...WITH_PARAMS, 404),
        },
      },
    },
    async (request, reply) => {
      const { orgId, runId } = request.params;
      // Every /admin route is authenticated: a principal is always there.
      const keyId = request.principal?.keyId;
      if (keyId === undefined) throw new KeyRevokedError();
      const slot = streams.acquire(keyId);
      if (!slot) throw new TooManyStreamsError(deps.maxPerKey);
      const raw = reply.raw;
      // Until the stream is set up, ending it is only freeing its slot: a client that goes away
      // (or a key revoked) while the run is being read must not hold a slot for the stream's
      // lifetime. Listened to from the start, since the response's close may come before setup
      // ends, and would never be seen again.
      let end = () => slot.release();
      raw.once('close', () => end());
      raw.on('error', () => end());
      slot.signal.addEventListener('abort', () => end(), { once: true });
      const read = async () => {
        const run = await getTenantRun(deps.db, orgId, runId);
        return run && viewRun(run, deps.runRates.observeRun(run));
      };
      let first: Awaited<ReturnType<typeof read>>;
      try {
        await getTenant(deps.db, orgId);
        first = await read();
      } catch (error) {
        slot.release();
        throw error;
      }
      if (!first) {
        slot.release();
        throw new NotFoundError(`run ${runId} not found`, 'runId');
      }
      if (slot.signal.reason === 'revoked' || slot.signal.reason === 'unconfirmed') {
        throw new KeyRevokedError();
      }
      if (slot.signal.aborted || raw.destroyed) {
        // The client went away, or the server is closing: nobody to send to.
        slot.release();
        reply.hijack();
        raw.destroy();
        return;
      }

      reply.hijack();
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
        slot.release();
        raw.end();
      };
      const isFinal = (status: string) =>
        (ENDED_RUN_STATUSES as readonly string[]).includes(status);
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
      const lifetime = setTimeout(close, deps.maxMs ?? LIVE_MAX_MS);
      // From now on the client going away, an error, a revoke or the server closing end it all.
      end = close;
      send(first);
      if (isFinal(first.status)) close();
    },
  );
}
