/**
 * One error shape for every failure: `{ error, message, field? }`. Known errors keep their status;
 * anything else is logged whole and answered with a generic 500 that leaks nothing.
 */
import { QuotaExceededError, SyncError, UnknownEntityError } from '@historical-sync/backfill';
import type { FastifyError, FastifyInstance, FastifyRequest } from 'fastify';

/**
 * The request fields that can hold each kind of id, in the order they are looked for: the use
 * cases say which kind of thing was unknown, the route says where its id came from.
 */
const ENTITY_FIELDS = {
  tenant: ['orgId', 'tenantId'],
  application: ['appId', 'appCode'],
  run: ['runId'],
} as const;

function fieldOf(error: SyncError, request: FastifyRequest): string | undefined {
  if (error.field !== undefined || !(error instanceof UnknownEntityError)) return error.field;
  const sent = { ...(request.query as object), ...(request.params as object) };
  return ENTITY_FIELDS[error.entity].find((field) => field in sent);
}

export function registerErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError | SyncError | Error, request, reply) => {
    if (error instanceof QuotaExceededError && error.retryAfterSeconds !== undefined) {
      reply.header('retry-after', String(error.retryAfterSeconds));
    }
    if (error instanceof SyncError) {
      const field = fieldOf(error, request);
      return reply.status(error.statusCode).send({
        error: error.code,
        message: error.message,
        ...(field !== undefined ? { field } : {}),
      });
    }
    const status =
      'statusCode' in error && typeof error.statusCode === 'number' ? error.statusCode : 500;
    if (status >= 400 && status < 500) {
      // Fastify's own client errors: malformed JSON, body too large, wrong content type, ...
      return reply
        .status(status)
        .send({ error: errorCode(status), message: clientMessage(status, error.message) });
    }
    request.log.error({ err: error }, 'unhandled error');
    return reply.status(500).send({ error: 'internal', message: 'internal error' });
  });

  app.setNotFoundHandler((request, reply) =>
    reply
      .status(404)
      .send({ error: 'not_found', message: `no route ${request.method} ${request.url}` }),
  );
}

/** Fastify says what it got (`Unsupported Media Type: text/plain`); the client needs what to send. */
function clientMessage(status: number, message: string): string {
  return status === 415
    ? `${message}: send the body as JSON, with content-type: application/json`
    : message;
}

function errorCode(status: number): string {
  switch (status) {
    case 400:
      return 'bad_request';
    case 401:
      return 'unauthorized';
    case 403:
      return 'forbidden';
    case 404:
      return 'not_found';
    case 413:
      return 'body_too_large';
    case 415:
      return 'unsupported_media_type';
    case 429:
      return 'too_many_requests';
    default:
      return 'client_error';
  }
}
