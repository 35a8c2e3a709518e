/**
 * Request validation with the routes' zod schemas (Fastify's validator compiler): a value that
 * fails its schema is a 400 whose message and `field` name the first offending field, in the one
 * error shape. Responses are serialized through the routes' schemas by the type provider.
 */
import { SyncError } from '@historical-sync/backfill';
import type { FastifyInstance, FastifySchemaCompiler } from 'fastify';
import { z } from 'zod';

/** A request value that failed its schema: 400 naming the field. */
export class BadRequestError extends SyncError {
  constructor(message: string, field?: string) {
    super(400, 'bad_request', message, field);
  }
}

/** How messages name the part of the request (Fastify's `querystring` reads as `query`). */
const PART_NAMES: Record<string, string> = { querystring: 'query' };

export const zodValidatorCompiler: FastifySchemaCompiler<z.ZodType> = ({
  schema,
  method,
  url,
  httpPart,
}) => {
  if (!(schema instanceof z.ZodType)) {
    throw new Error(`${method} ${url}: the ${httpPart ?? 'request'} schema is not a zod schema`);
  }
  const where = PART_NAMES[httpPart ?? ''] ?? httpPart ?? 'request';
  return (value) => {
    const result = schema.safeParse(value);
    return result.success ? { value: result.data } : { error: badRequest(result.error, where) };
  };
};

function badRequest(error: z.ZodError, where: string): BadRequestError {
  const issue = error.issues[0];
  if (!issue) return new BadRequestError(`invalid ${where}`);
  const keys = issue.code === 'unrecognized_keys' ? issue.keys : [];
  const path = [...issue.path.map(String), ...(keys.length === 1 ? keys : [])];
  // A field may be named "" (an unknown key in a JSON object): still a field to name.
  const field = path.length > 0 ? path.join('.') : undefined;
  const message =
    issue.code === 'unrecognized_keys'
      ? `unknown field${keys.length > 1 ? 's' : ''} ${keys.map((k) => `"${k}"`).join(', ')}`
      : issue.message;
  return new BadRequestError(`${[where, ...issue.path.map(String)].join('.')}: ${message}`, field);
}

/**
 * No body at all reads as `{}` (a JSON `null` is a body, and not an object): Fastify hands a
 * validator `null` for both, so the difference is settled before validation.
 */
export function readMissingBodyAsEmpty(app: FastifyInstance): void {
  app.addHook('preValidation', async (request) => {
    if (request.body === undefined && request.routeOptions.schema?.body) request.body = {};
  });
}
