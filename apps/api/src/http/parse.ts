import { SyncError } from '@historical-sync/backfill';
import type { z } from 'zod';

/** A request value that failed its schema: 400 naming the field. */
export class BadRequestError extends SyncError {
  constructor(message: string, field?: string) {
    super(400, 'bad_request', message, field);
  }
}

/**
 * Parses `value` (the request's `where`: body, params or query) with `schema`, or throws a 400
 * whose message and `field` name the first offending field.
 */
export function parseRequest<T extends z.ZodType>(
  schema: T,
  value: unknown,
  where: 'body' | 'params' | 'query',
): z.infer<T> {
  // No body at all reads as `{}`; a JSON `null` is a body, and not an object.
  const result = schema.safeParse(value === undefined ? {} : value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  if (!issue) throw new BadRequestError(`invalid ${where}`);
  const keys = issue.code === 'unrecognized_keys' ? issue.keys : [];
  const path = [...issue.path.map(String), ...(keys.length === 1 ? keys : [])];
  // A field may be named "" (an unknown key in a JSON object): still a field to name.
  const field = path.length > 0 ? path.join('.') : undefined;
  const message =
    issue.code === 'unrecognized_keys'
      ? `unknown field${keys.length > 1 ? 's' : ''} ${keys.map((k) => `"${k}"`).join(', ')}`
      : issue.message;
  throw new BadRequestError(`${[where, ...issue.path.map(String)].join('.')}: ${message}`, field);
}
