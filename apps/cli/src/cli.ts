/**
 * Argument handling: find the command, parse its options strictly, read the connection settings,
 * run it. Every failure becomes one `hsync: …` line on stderr and exit code 1.
 */
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { CliError, createClient } from './client';
import { type Command, type Context, type OptionsConfig, type Output, validate } from './command';
import { COMMANDS } from './commands/index';
import { commandHelp, DEFAULT_ADMIN_API_KEY, DEFAULT_API_URL, generalHelp } from './help';
import { runningApiUrl } from './running-stack';

const GLOBAL_OPTIONS = {
  api: { type: 'string' },
  key: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies OptionsConfig;

const Connection = z.object({
  api: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }),
  key: z.string().min(1, 'must not be empty'),
});

export interface CliIo {
  stdout: Output;
  stderr: Pick<Output, 'write'>;
  env: NodeJS.ProcessEnv;
  /** Where to look for a running `npm start` (its checkout); the process's own by default. */
  cwd?: string;
}

export async function runCli(argv: string[], io: CliIo): Promise<number> {
  let json = false;
  try {
    const { command, words, help } = findCommand(argv);
    if (!command) {
      // A bare `hsync` is a mistake (exit 1); `hsync --help` is not.
      (help ? io.stdout : io.stderr).write(generalHelp(COMMANDS));
      return help ? 0 : 1;
    }
    if (help) {
      io.stdout.write(commandHelp(command));
      return 0;
    }
    const { values, positionals } = parseStrict(argv, command);
    json = values.json === true;
    const input = positionalInput(command, positionals.slice(words));
    const connection = validate(
      Connection,
      {
        api:
          values.api ??
          io.env.HSYNC_API_URL ??
          runningApiUrl(io.env, io.cwd ?? process.cwd()) ??
          DEFAULT_API_URL,
        key: values.key ?? io.env.HSYNC_API_KEY ?? io.env.ADMIN_API_KEY ?? DEFAULT_ADMIN_API_KEY,
      },
      [],
      // The value may come from the environment: name both places.
      { api: '--api / HSYNC_API_URL', key: '--key / HSYNC_API_KEY / ADMIN_API_KEY' },
    );
    const context: Context = {
      client: createClient({ baseUrl: connection.api, apiKey: connection.key }),
      json,
      stdout: io.stdout,
      sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
      now: () => Date.now(),
    };
    return await command.execute(context, { ...values, ...input });
  } catch (error) {
    if (!(error instanceof CliError)) throw error;
    // With --json a script gets the API's error body on stdout as well as the line on stderr.
    if (json && error.body !== undefined) io.stdout.write(`${JSON.stringify(error.body)}\n`);
    io.stderr.write(`hsync: ${error.message}\n`);
    return 1;
  }
}

/**
 * The command the arguments name (none for a bare `hsync` or `hsync --help`), how many words its
 * name takes (`streams detach` is two), and whether help is asked for (`--help`, `-h`,
 * `hsync help [command]`). This first pass knows every command's options, so an option's value
 * (`--since 2024-01-01 sync …`) is never taken for the command name; the strict pass comes once
 * the command is known.
 */
function findCommand(argv: string[]): {
  command: Command | undefined;
  words: number;
  help: boolean;
} {
  const allOptions: OptionsConfig = { ...GLOBAL_OPTIONS };
  for (const command of COMMANDS) Object.assign(allOptions, command.options);
  const { values, positionals } = parseArgs({
    args: argv,
    options: allOptions,
    strict: false,
    allowPositionals: true,
  });
  if (positionals[0] === 'help') {
    const topic = positionals.slice(1);
    return { ...(topic.length ? lookup(topic) : { command: undefined, words: 0 }), help: true };
  }
  if (positionals.length === 0) return { command: undefined, words: 0, help: values.help === true };
  return { ...lookup(positionals), help: values.help === true };
}

/** The command the first words name: a two-word one (`streams detach`) before a one-word one. */
function lookup(words: string[]): { command: Command; words: number } {
  for (const count of [2, 1]) {
    if (words.length < count) continue;
    const command = COMMANDS.find((c) => c.name === words.slice(0, count).join(' '));
    if (command) return { command, words: count };
  }
  throw new CliError(
    `unknown command "${words[0]}"; commands: ${COMMANDS.map((c) => c.name).join(', ')} (see hsync --help)`,
  );
}

function parseStrict(argv: string[], command: Command) {
  try {
    return parseArgs({
      args: argv,
      options: { ...GLOBAL_OPTIONS, ...command.options },
      strict: true,
      allowPositionals: true,
    });
  } catch (error) {
    throw new CliError(
      `${command.name}: ${parseArgsMessage(error)} (see hsync ${command.name} --help)`,
    );
  }
}

/** parseArgs messages carry advice about `--` that does not apply here; keep the first sentence. */
function parseArgsMessage(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const first = message.split(/\.\s/)[0] ?? message;
  return first.charAt(0).toLowerCase() + first.slice(1).replace(/\.$/, '');
}

/** Names the positionals after the command's, so validation messages can say `<tenantId>`. */
function positionalInput(command: Command, args: string[]): Record<string, string> {
  const names = command.positionals;
  if (args.length > names.length) {
    // `hsync streams detch …`: name the commands that extend this one too.
    const usages = COMMANDS.filter(
      (c) => c === command || c.name.startsWith(`${command.name} `),
    ).map((c) => `hsync ${c.usage}`);
    throw new CliError(
      `${command.name}: unexpected argument "${args[names.length]}" (usage: ${usages.join('; ')})`,
    );
  }
  if (args.length < names.length) {
    throw new CliError(
      `${command.name}: missing <${names[args.length]}> (usage: hsync ${command.usage})`,
    );
  }
  return Object.fromEntries(names.map((name, i) => [name, args[i] as string]));
}
