/** `GET /admin/system` (admin keys): throughput, outbox, consumer groups and live workers. */
import { type RedisClient, systemStatus } from '@historical-sync/backfill';
import { SystemResponse } from '@historical-sync/contracts';
import type { Db } from '@historical-sync/db';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { errorResponses, KEYED } from '../http/responses';

export function systemRoute(
  scope: FastifyInstance,
  deps: { db: Db; redis: RedisClient; queuePrefix: string; streamPrefix: string },
): void {
  scope.withTypeProvider<ZodTypeProvider>().get(
    '/admin/system',
    {
      schema: {
        summary:
          "Events/s over the last 15 minutes, the outbox, consumer groups' lag, workers seen",
        tags: ['console'],
        response: {
          200: SystemResponse.describe('the system as the workers and Redis report it'),
          ...errorResponses(...KEYED),
        },
      },
    },
    async () => systemStatus(deps),
  );
}
