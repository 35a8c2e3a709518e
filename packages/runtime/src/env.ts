import type { z } from 'zod';

/** A setting the environment gives in the wrong form: its message is one line naming it. */
export class SettingsError extends Error {
  override name = 'SettingsError';
}

/**
 * Parses the environment with an app's config schema, once at start. A bad or missing value
 * throws a `SettingsError` naming every offending variable, its value and the form expected.
 */
export function parseEnv<S extends z.ZodType>(
  schema: S,
  env: NodeJS.ProcessEnv = process.env,
): z.infer<S> {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((issue) => {
      const name = issue.path.join('.');
      const value = env[name];
      const given = value === undefined ? 'is not set' : `=${JSON.stringify(value)}`;
      return `${name}${value === undefined ? ` ${given}` : given} (expected ${expectedForm(issue)})`;
    });
    throw new SettingsError(`invalid setting ${issues.join('; ')}`);
  }
  return parsed.data;
}

function expectedForm(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'invalid_type':
      return issue.expected === 'number' ? 'a number' : `a ${issue.expected}`;
    case 'too_small':
      return issue.origin === 'string'
        ? `at least ${issue.minimum} characters`
        : `a number of at least ${issue.minimum}`;
    case 'too_big':
      return issue.origin === 'string'
        ? `at most ${issue.maximum} characters`
        : `a number of at most ${issue.maximum}`;
    case 'invalid_value':
      return `one of ${issue.values.join(', ')}`;
    default:
      return issue.message;
  }
}

/**
 * Loads an app's settings at start; a `SettingsError` ends the process with its one line and
 * exit code 2 (no stack trace: the fix is in the environment, not the code).
 */
export function loadSettingsOrExit<T>(app: string, load: () => T): T {
  try {
    return load();
  } catch (error) {
    if (!(error instanceof SettingsError)) throw error;
    process.stderr.write(`${app}: ${error.message}\n`);
    process.exit(2);
  }
}
