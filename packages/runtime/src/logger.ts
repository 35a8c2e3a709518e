import pino, { type Logger } from 'pino';

/** pino JSON logs; human-readable only when stdout is a terminal. */
export function createLogger(name: string, level = 'info'): Logger {
  const pretty = process.stdout.isTTY
    ? {
        transport: {
          target: 'pino-pretty',
          options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l' },
        },
      }
    : {};
  return pino({ name, level, ...pretty });
}
