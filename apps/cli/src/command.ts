/**
 * What a command is: its help, its parseArgs options, a zod schema over its positionals and
 * options, and a run function. `defineCommand` erases the argument type so commands of different
 * shapes fit in one list while each `run` still gets its own typed, validated arguments.
 */
import type { ParseArgsConfig } from 'node:util';
import {
  ApplicationRef,
  SinceDateText,
  TenantId,
  Uuid,
  wholeNumber,
} from '@historical-sync/contracts';
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

// Argument schemas shared by the commands: the API's own rules (from the contracts), so a bad
// argument is refused before any request, with the message the API would give.

export const tenantId = TenantId;
export const runId = Uuid;
export const appRef = ApplicationRef;

/**
 * A whole number option (parseArgs hands over strings) within [min, max], or within the API's
 * bounds for that field when given its rule.
 */
export const intOption = (rule: z.ZodNumber | readonly [min: number, max: number]) =>
  z
    .string()
    .regex(/^\d+$/, 'must be a whole number')
    .transform(Number)
    .pipe('min' in rule ? rule : wholeNumber(rule[0], rule[1]));

/** The API's `sinceDate` rule, checked as typed: the API keeps every digit. */
export const sinceDate = SinceDateText;

export function printJson(context: Context, value: unknown): void {
  context.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

export function printLines(context: Context, lines: readonly string[]): void {
  context.stdout.write(lines.map((line) => `${line}\n`).join(''));
}
