/**
 * Bull Board at /admin/queues over every queue. A browser sends no bearer header, so the board
 * (its page, JSON API and static files alike) takes HTTP Basic auth: user `admin`, password the
 * admin API key. A bearer token works too, for scripts.
 */
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import type { BackfillQueues } from '@historical-sync/backfill';
import type { FastifyInstance } from 'fastify';
import { credentialMatches } from './admin-auth';

export const BOARD_PATH = '/admin/queues';
export const BOARD_USER = 'admin';

export async function registerBullBoard(
  app: FastifyInstance,
  queues: BackfillQueues,
  adminKey: string,
): Promise<void> {
  const serverAdapter = new FastifyAdapter();
  serverAdapter.setBasePath(BOARD_PATH);
  createBullBoard({
    queues: queues.all().map((queue) => new BullMQAdapter(queue)),
    serverAdapter,
    options: { uiConfig: { boardTitle: 'historical-sync' } },
  });

  await app.register(async (board) => {
    board.addHook('onRequest', async (request, reply) => {
      const header = request.headers.authorization ?? '';
      const [scheme, value = ''] = header.split(' ', 2);
      const basic =
        scheme === 'Basic' ? Buffer.from(value, 'base64').toString('utf8').split(':') : [];
      const ok =
        (scheme === 'Bearer' && credentialMatches(value, adminKey)) ||
        (basic[0] === BOARD_USER && credentialMatches(basic.slice(1).join(':'), adminKey));
      if (!ok) {
        return reply
          .status(401)
          .header('www-authenticate', 'Basic realm="historical-sync", charset="UTF-8"')
          .send({ error: 'unauthorized', message: 'Bull Board needs the admin credentials' });
      }
    });
    await board.register(serverAdapter.registerPlugin(), { prefix: BOARD_PATH });
  });
}
