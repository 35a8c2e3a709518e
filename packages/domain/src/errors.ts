/**
 * Errors a caller can act on, each with a stable code and the HTTP status it maps to
 * (Fastify uses `statusCode` as the response status). Anything else is a bug: logged whole,
 * answered with a generic 500.
 */
export class SyncError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    /** The request field the error is about, when there is one. */
    readonly field?: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

export class NotFoundError extends SyncError {
  constructor(message: string, field?: string) {
    super(404, 'not_found', message, field);
  }
}

/** What an unknown-entity error is about; the API names the request field that held its id. */
export type EntityKind = 'tenant' | 'application' | 'run';

/**
 * An id that names nothing (or nothing the caller may see). It says which kind of thing, not which
 * request field: the same use case is reached through `:appId`, `:appCode` or a query parameter.
 */
export class UnknownEntityError extends NotFoundError {
  constructor(
    readonly entity: EntityKind,
    id: string,
    /** What the caller may have meant (e.g. the code in another case), for a person. */
    hint?: string,
  ) {
    super(`${entity} ${id} not found${hint ? `; ${hint}` : ''}`);
  }
}

export class ConflictError extends SyncError {
  constructor(message: string) {
    super(409, 'conflict', message);
  }
}

/** The run's checkpoint moved under this attempt: another worker owns the job now. */
export class StaleCheckpointError extends Error {
  constructor(
    readonly checkpointKey: string,
    readonly expected: string,
    readonly actual: string,
  ) {
    super(`checkpoint ${checkpointKey} is at "${actual}", expected "${expected}": stopping`);
    this.name = 'StaleCheckpointError';
  }
}
