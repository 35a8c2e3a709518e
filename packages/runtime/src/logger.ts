import pino, { type DestinationStream, type Logger } from 'pino';
import { z } from 'zod';

/** pino's levels: what every app's LOG_LEVEL (and the API's REQUEST_LOG_LEVEL) accepts. */
export const LogLevel = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);
export type LogLevel = z.infer<typeof LogLevel>;

/**
 * Credentials never reach the logs: request headers that carry them are censored wherever they
 * appear (Fastify logs no headers by default; this holds if someone adds them).
 */
const REDACT = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'headers.cookie',
  'authorization',
  'password',
  '*.password',
];

/** pino JSON logs; human-readable only when stdout is a terminal. */
export function createLogger(
  name: string,
  level: LogLevel = 'info',
  destination?: DestinationStream,
): Logger {
  const options = { name, level, redact: { paths: REDACT, censor: '[redacted]' } };
  if (destination) return pino(options, destination);
  const pretty = process.stdout.isTTY
    ? {
        transport: {
          target: 'pino-pretty',
          options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l' },
        },
      }
    : {};
  return pino({ ...options, ...pretty });
}

/** A connection URL fit to print: its password replaced (`postgres://app:***@db/x`). */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (!parsed.password) return url;
    parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparsable URL)';
  }
}
