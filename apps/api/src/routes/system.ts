/**
 * The console's System page (admin keys): `GET /admin/system` (throughput, outbox, the streams and
 * their consumer groups, Redis's memory, live workers), and the operator's command for a consumer
 * group whose application is gone: `POST /admin/streams/detach-group`.
 */
import {
  detachGroup,
  type RedisClient,
  type StreamRetention,
  systemStatus,
  systemStreams,
} from '@historical-sync/backfill';
import { ROUTES } from '@historical-sync/contracts';
import type { Db } from '@historical-sync/db';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { errorResponses, KEYED, WITH_BODY } from '../http/responses';

export function systemRoute(
  scope: FastifyInstance,
  deps: {
    db: Db;
    redis: RedisClient;
    queuePrefix: string;
    streamPrefix: string;
    retention: StreamRetention;
    memoryHighRatio: number | null;
  },
): void {
  const app = scope.withTypeProvider<ZodTypeProvider>();
  const { getSystem, detachGroup: detach } = ROUTES;
  app.get(
    getSystem.path,
    {
      schema: {
        summary:
          "Events/s over the last 15 minutes, the outbox, the streams and their consumer groups, Redis's memory, workers seen",
        tags: ['console'],
        response: {
          200: getSystem.response[200].describe('the system as the workers and Redis report it'),
          ...errorResponses(...KEYED),
        },
      },
    },
    async () => systemStatus(deps),
  );
  app.post(
    detach.path,
    {
      schema: {
        summary:
          'Detach a consumer group whose application is gone: Redis stops keeping its unread entries (they are trimmed like acknowledged ones)',
        tags: ['console'],
        body: detach.body,
        response: {
          200: detach.response[200].describe(
            'the group is gone; what it had not acknowledged or read',
          ),
          ...errorResponses(...KEYED, ...WITH_BODY, 404),
        },
      },
    },
    async (request) => {
      const { stream, group } = request.body;
      const streams = await systemStreams(deps.db, deps.streamPrefix);
      const detached = await detachGroup(deps.redis, streams, stream, group);
      request.log.warn({ stream, group, ...detached }, 'consumer group detached by an operator');
      return { stream, group, ...detached };
    },
  );
}
