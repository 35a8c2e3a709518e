/** `GET /admin/system` (admin keys): throughput, outbox, consumer groups and live workers. */
import { type RedisClient, systemStatus } from '@historical-sync/backfill';
import { ErrorBody, SystemResponse } from '@historical-sync/contracts';
import type { Db } from '@historical-sync/db';
import type { FastifyInstance } from 'fastify';
import { withZod } from '../http/zod-provider';

export function systemRoute(
  scope: FastifyInstance,
  deps: { db: Db; redis: RedisClient; queuePrefix: string; streamPrefix: string },
): void {
  withZod(scope).get(
    '/admin/system',
    { schema: { response: { 200: SystemResponse, 403: ErrorBody } } },
    async () => systemStatus(deps),
  );
}
