/**
 * Bull Board at /admin/queues over every queue. A browser sends no bearer header, so the board
 * (its page, JSON API and static files alike) also takes HTTP Basic auth: user `admin`, password
 * an admin API key. Registered inside an admin-only scope (app.ts).
 *
 * Unless opened (`BULL_BOARD_WRITABLE`), the board only reads, and retries failed jobs (a failed
 * run resumes from its checkpoints that way): adding, editing, cleaning, removing or promoting jobs
 * and pausing or emptying queues bypass the run's own state and get 403. Bull Board's
 * `readOnlyMode` would refuse retries too, so the rule is enforced here.
 */
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import type { BackfillQueues } from '@historical-sync/backfill';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { errorResponses, KEYED } from '../http/responses';

export const BOARD_PATH = '/admin/queues';

const READ_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
const RETRY_ONE = `${BOARD_PATH}/api/queues/:queueName/:jobId/retry`;
const RETRY_ALL = `${BOARD_PATH}/api/queues/:queueName/retry/:queueStatus`;

export async function registerBullBoard(
  scope: FastifyInstance,
  queues: BackfillQueues,
  options: { writable: boolean },
): Promise<void> {
  const serverAdapter = new FastifyAdapter();
  serverAdapter.setBasePath(BOARD_PATH);
  createBullBoard({
    queues: queues.all().map((queue) => new BullMQAdapter(queue, { allowRetries: true })),
    serverAdapter,
    options: { uiConfig: { boardTitle: 'historical-sync' } },
  });
  // Bull Board hides its routes from the document (its JSON API is its own, not ours to
  // promise); the page itself is listed, with the Basic scheme a browser uses.
  scope.addHook('onRoute', (route) => {
    if (route.method !== 'GET' || route.url.replace(/\/$/, '') !== BOARD_PATH) return;
    route.schema = {
      summary: 'Bull Board: every queue and its jobs (a page for browsers; read-only but retries)',
      tags: ['queues'],
      security: [{ basic: [] }],
      response: {
        200: { description: 'the board page', content: { 'text/html': { schema: z.string() } } },
        ...errorResponses(...KEYED),
      },
    } as typeof route.schema;
  });
  if (!options.writable) {
    scope.addHook('onRequest', async (request, reply) => {
      if (READ_METHODS.has(request.method) || (await isFailedJobRetry(request, queues))) return;
      return reply.status(403).send({
        error: 'forbidden',
        message: 'Bull Board is read-only except retrying failed jobs (BULL_BOARD_WRITABLE)',
      });
    });
  }
  await scope.register(serverAdapter.registerPlugin(), { prefix: BOARD_PATH });
}

/** A retry of failed jobs: retrying a completed one would publish its events a second time. */
async function isFailedJobRetry(
  request: { method: string; routeOptions: { url?: string }; params: unknown },
  queues: BackfillQueues,
): Promise<boolean> {
  if (request.method !== 'PUT') return false;
  const params = request.params as { queueName?: string; jobId?: string; queueStatus?: string };
  if (request.routeOptions.url === RETRY_ALL) return params.queueStatus === 'failed';
  if (request.routeOptions.url !== RETRY_ONE || !params.jobId) return false;
  const queue = queues.all().find((q) => q.name === params.queueName);
  // An unknown queue or job passes: the board answers 404 itself.
  if (!queue) return true;
  const state = await queue.getJobState(params.jobId);
  return state === 'failed' || state === 'unknown';
}
