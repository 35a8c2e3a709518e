/**
 * What a command is: its help, its parseArgs options, a zod schema over its positionals and
 * options, and a run function. `defineCommand` erases the argument type so commands of different
 * shapes fit in one list while each `run` still gets its own typed, validated arguments.
 */
import type { ParseArgsConfig } from 'node:util';
import { fractionDigits, MAX_FRACTION_DIGITS } from '@historical-sync/contracts';
import { z } from 'zod';
import type { ApiClient } from './client';
import { CliError } from './client';

export type OptionsConfig = NonNullable<ParseArgsConfig['options']>;

/** Where output goes; a TTY gets a redrawn progress bar, anything else plain lines. */
export interface Output {
  write(text: string): void;
  isTTY: boolean;
  columns: number | undefined;
}

export interface Context {
  client: ApiClient;
  /** `--json`: print the API's answers as JSON instead of the human format. */
  json: boolean;
  stdout: Output;
  sleep(ms: number): Promise<void>;
  now(): number;
}

interface CommandSpec<A> {
  name: string;
  summary: string;
  /** After `hsync `, e.g. `sync <tenantId> <app> [options]`. */
  usage: string;
  /** Help lines describing the options, printed under the usage. */
  details: string[];
  positionals: readonly string[];
  options: OptionsConfig;
  /** Validates `{ <positional name>: value, <option name>: value }`. */
  schema: z.ZodType<A>;
  /** Resolves to the exit code. */
  run(context: Context, args: A): Promise<number>;
}

export interface Command {
  name: string;
  summary: string;
  usage: string;
  details: string[];
  positionals: readonly string[];
  options: OptionsConfig;
  execute(context: Context, input: Record<string, unknown>): Promise<number>;
}

export function defineCommand<A>(spec: CommandSpec<A>): Command {
  const { schema, run, ...rest } = spec;
  return {
    ...rest,
    execute: (context, input) => run(context, validate(schema, input, spec.positionals)),
  };
}

/**
 * Parses `input` or throws one line naming the argument as the user typed it:
 * `invalid <tenantId> "abc": must be a UUID`, `invalid --since "yesterday": …`.
 */
export function validate<A>(
  schema: z.ZodType<A>,
  input: Record<string, unknown>,
  positionals: readonly string[] = [],
  labels: Record<string, string> = {},
): A {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const key = String(issue?.path[0] ?? '');
  const label = labels[key] ?? (positionals.includes(key) ? `<${key}>` : `--${key}`);
  const value = input[key];
  const shown = typeof value === 'string' ? ` "${value}"` : '';
  throw new CliError(key ? `invalid ${label}${shown}: ${issue?.message}` : String(issue?.message));
}

// Argument schemas shared by the commands, with messages that say what is expected.

export const tenantId = z.guid({ error: 'must be a UUID (the tenant id)' });
export const runId = z.guid({ error: 'must be a UUID (the run id)' });
/** Same rule as the API's `:appId` / `:appCode`, so a bad name never makes a request. */
export const appRef = z
  .string()
  .max(64, 'must be at most 64 characters')
  .regex(/^[A-Za-z0-9_-]+$/, 'must be an application code such as crm (letters, digits, _ and -)');

/** A whole number option (parseArgs hands over strings) within [min, max]. */
export const intOption = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, 'must be a whole number')
    .transform(Number)
    .pipe(
      z
        .number()
        .min(min, `must be at least ${min}`)
        .max(max, `must be at most ${max.toLocaleString('en-US')}`),
    );

/**
 * The API's `sinceDate` rule: ISO-8601 date-time with an offset, to the microsecond, or a plain
 * date. Sent as typed: the API keeps every digit.
 */
export const sinceDate = z
  .union([z.iso.datetime({ offset: true }), z.iso.date()], {
    error: 'must be an ISO-8601 date or date-time, e.g. 2024-07-01 or 2024-07-01T00:00:00Z',
  })
  .refine(
    (value) => fractionDigits(value) <= MAX_FRACTION_DIGITS,
    `has more than ${MAX_FRACTION_DIGITS} fractional digits: the API keeps microseconds`,
  );

export const orgPath = (tenant: string) => `/admin/organizations/${encodeURIComponent(tenant)}`;

export function printJson(context: Context, value: unknown): void {
  context.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

export function printLines(context: Context, lines: readonly string[]): void {
  context.stdout.write(lines.map((line) => `${line}\n`).join(''));
}
