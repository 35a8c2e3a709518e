import { z } from 'zod';

/** Every error answer of the API: a stable code, a message for people, and the field at fault. */
export const ApiError = z
  .object({
    /** Stable machine-readable code, e.g. `bad_request`, `not_found`, `quota_exceeded`. */
    error: z.string(),
    message: z.string(),
    /** The request field at fault (`body.x`'s `x`, a path parameter), when one is. */
    field: z.string().optional(),
  })
  .meta({ id: 'ApiError' });
export type ApiError = z.infer<typeof ApiError>;
