/**
 * Bull Board at /admin/queues over every queue. A browser sends no bearer header, so the board
 * (its page, JSON API and static files alike) also takes HTTP Basic auth: user `admin`, password
 * an admin API key. Registered inside an admin-only scope (app.ts).
 */
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import type { BackfillQueues } from '@historical-sync/backfill';
import type { FastifyInstance } from 'fastify';

export const BOARD_PATH = '/admin/queues';

export async function registerBullBoard(
  scope: FastifyInstance,
  queues: BackfillQueues,
): Promise<void> {
  const serverAdapter = new FastifyAdapter();
  serverAdapter.setBasePath(BOARD_PATH);
  createBullBoard({
    queues: queues.all().map((queue) => new BullMQAdapter(queue)),
    serverAdapter,
    options: { uiConfig: { boardTitle: 'historical-sync' } },
  });
  await scope.register(serverAdapter.registerPlugin(), { prefix: BOARD_PATH });
}
