import type { z } from 'zod';

/**
 * Parses the environment with an app's config schema, once at start; a bad or missing value
 * stops the process with one message naming every offending variable.
 */
export function parseEnv<S extends z.ZodType>(
  schema: S,
  env: NodeJS.ProcessEnv = process.env,
): z.infer<S> {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    throw new Error(`invalid configuration: ${issues.join('; ')}`);
  }
  return parsed.data;
}
