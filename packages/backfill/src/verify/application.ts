/**
 * The system's side of the verification protocol (contracts, verify.ts): a request added to the
 * application's request stream, the answer awaited on its reply list. The application's SDK
 * (packages/consumer, `startVerifyResponder`) answers from the rows its own store yields.
 */
import { randomUUID } from 'node:crypto';
import {
  type HeldRow,
  type IdRange,
  type RangeDigest,
  type Resource,
  VERIFY_REQUEST_FIELD,
  VerifyReply,
  type VerifyRequest,
  verifyReplyKey,
  verifyRequestStream,
} from '@historical-sync/contracts';
import { SyncError } from '@historical-sync/domain';
import type { Cluster, Redis } from 'ioredis';

export interface ApplicationTarget {
  appCode: string;
  streamPrefix: string;
  tenantId: string;
  resource: Resource;
}

/** The application did not answer (no responder running, or its store is away). */
export class ApplicationUnavailableError extends SyncError {
  constructor(message: string) {
    super(502, 'application_unavailable', message);
  }
}

/**
 * Asks and waits. `redis` blocks while it waits (BLPOP): give each verification a connection of
 * its own (`duplicate()`), never a shared one.
 */
type Question =
  | { kind: 'digest' | 'rows'; ranges: IdRange[] }
  | { kind: 'forget'; rows: HeldRow[] };

async function ask(
  redis: Redis | Cluster,
  target: ApplicationTarget,
  question: Question,
  timeoutMs: number,
): Promise<VerifyReply> {
  const request: VerifyRequest = {
    requestId: randomUUID(),
    tenantId: target.tenantId,
    resource: target.resource,
    deadline: Date.now() + timeoutMs,
    ...question,
  };
  const stream = verifyRequestStream(target.appCode, target.streamPrefix);
  const key = verifyReplyKey(target.appCode, request.requestId, target.streamPrefix);
  // Redis refusing the request (out of memory, a read-only replica after a failover) ends the
  // verification as failed with the reason, like an application that does not answer.
  const answer = await redis
    .xadd(stream, '*', VERIFY_REQUEST_FIELD, JSON.stringify(request))
    .then(() => redis.blpop(key, timeoutMs / 1000))
    .catch((error: unknown) => {
      throw new ApplicationUnavailableError(
        `Redis (REDIS_URL) could not carry a verification request to ${target.appCode}: ${
          (error as Error).message
        }`,
      );
    });
  if (!answer) {
    throw new ApplicationUnavailableError(
      `application ${target.appCode} did not answer a verification request within ${timeoutMs / 1000} s: is its consumer running with the verify responder (packages/consumer, startVerifyResponder) on ${stream}?`,
    );
  }
  const reply = VerifyReply.parse(JSON.parse(answer[1]));
  if (reply.error) {
    throw new ApplicationUnavailableError(
      `application ${target.appCode} could not answer a verification request: ${reply.error}`,
    );
  }
  return reply;
}

export async function applicationDigests(
  redis: Redis | Cluster,
  target: ApplicationTarget,
  ranges: readonly IdRange[],
  timeoutMs: number,
): Promise<RangeDigest[]> {
  const reply = await ask(redis, target, { kind: 'digest', ranges: [...ranges] }, timeoutMs);
  if (reply.digests?.length !== ranges.length) {
    throw new ApplicationUnavailableError(
      `application ${target.appCode} answered ${reply.digests?.length ?? 0} digests for ${ranges.length} ranges`,
    );
  }
  return reply.digests;
}

export async function applicationRows(
  redis: Redis | Cluster,
  target: ApplicationTarget,
  ranges: readonly IdRange[],
  timeoutMs: number,
): Promise<HeldRow[][]> {
  const reply = await ask(redis, target, { kind: 'rows', ranges: [...ranges] }, timeoutMs);
  if (reply.rows?.length !== ranges.length) {
    throw new ApplicationUnavailableError(
      `application ${target.appCode} answered rows of ${reply.rows?.length ?? 0} ranges for ${ranges.length}`,
    );
  }
  return reply.rows;
}

/** Asks the application to drop rows the source never had; answers how many it dropped. */
export async function applicationForget(
  redis: Redis | Cluster,
  target: ApplicationTarget,
  rows: readonly HeldRow[],
  timeoutMs: number,
): Promise<number> {
  const reply = await ask(redis, target, { kind: 'forget', rows: [...rows] }, timeoutMs);
  return reply.forgotten ?? 0;
}
