/** The help texts: `hsync --help` and `hsync <command> --help`. */
import type { Command } from './command';

export const DEFAULT_API_URL = 'http://127.0.0.1:3000';
/** The API's documented development default (README, Configuration). */
export const DEFAULT_ADMIN_API_KEY = 'dev-admin-key';

const GLOBAL_OPTIONS = [
  'Global options:',
  '  --api URL    admin API address (env HSYNC_API_URL, else the npm start running in this',
  `               checkout, else ${DEFAULT_API_URL})`,
  `  --key KEY    API key: admin, or a tenant's own (env HSYNC_API_KEY, else ADMIN_API_KEY,\n               default ${DEFAULT_ADMIN_API_KEY})`,
  "  --json       print the API's JSON answer instead of the human format",
  '  -h, --help   show help',
];

export function generalHelp(commands: readonly Command[]): string {
  const width = Math.max(...commands.map((c) => c.name.length)) + 3;
  return [
    'hsync: command-line client of the historical-sync admin API',
    '',
    'Usage: hsync <command> [arguments] [options]',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}${c.summary}`),
    '',
    ...GLOBAL_OPTIONS,
    '',
    'Run hsync <command> --help for its arguments and options.',
    'Exit status: 0 on success; 1 on bad input, an API error, or a watched run that failed or',
    'was cancelled.',
    '',
  ].join('\n');
}

export function commandHelp(command: Command): string {
  return [
    `Usage: hsync ${command.usage}`,
    '',
    `${command.summary[0]?.toUpperCase()}${command.summary.slice(1)}.`,
    ...(command.details.length ? ['', ...command.details] : []),
    '',
    ...GLOBAL_OPTIONS,
    '',
  ].join('\n');
}
