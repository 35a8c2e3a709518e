/**
 * Start-up checks that every server an app needs answers, so a wrong or unreachable URL ends
 * the process with one line naming the service and the setting instead of a stack trace.
 */
import { Redis } from 'ioredis';
import { CLUSTER_SCHEME } from './redis';

export interface ServerCheck {
  /** What a person calls it: "Postgres", "Redis". */
  service: string;
  /** The environment variable that names it. */
  setting: string;
  url: string;
  /** Resolves once the server answered; rejects with the connection's error. */
  probe(): Promise<unknown>;
}

/** The check of a Postgres database named by `setting`, probed with a query of the caller's. */
export function postgresCheck(
  setting: string,
  url: string,
  probe: () => Promise<unknown>,
): ServerCheck {
  return { service: 'Postgres', setting, url, probe };
}

/** The check of the Redis at `REDIS_URL`. */
export function redisCheck(url: string): ServerCheck {
  return { service: 'Redis', setting: 'REDIS_URL', url, probe: () => probeRedis(url) };
}

/** `host:port` of a URL, never its credentials. */
export function serverAddress(url: string): string {
  if (url.startsWith(CLUSTER_SCHEME)) return url.slice(CLUSTER_SCHEME.length);
  try {
    const parsed = new URL(url);
    return parsed.port ? `${parsed.hostname}:${parsed.port}` : parsed.hostname;
  } catch {
    return '(unparsable URL)';
  }
}

/** The short cause of a connection failure: its code (ECONNREFUSED, ENOTFOUND, 28P01 ...) or message. */
export function connectionCause(error: unknown): string {
  if (error && typeof error === 'object') {
    const { code, errors, message } = error as {
      code?: unknown;
      errors?: unknown;
      message?: unknown;
    };
    if (typeof code === 'string' && code) return code;
    // Node's happy-eyeballs connect reports one error per address tried.
    if (Array.isArray(errors) && errors.length) return connectionCause(errors[0]);
    if (typeof message === 'string' && message) return message;
  }
  return String(error);
}

export function unreachableMessage(check: Omit<ServerCheck, 'probe'>, error: unknown): string {
  return `${check.service} at ${check.setting} (${serverAddress(check.url)}) is unreachable: ${connectionCause(error)}`;
}

/** One PING over a connection that never retries: the answer or the connection's error. */
export async function probeRedis(url: string, timeoutMs = 5_000): Promise<void> {
  if (url.startsWith(CLUSTER_SCHEME)) return; // the cluster client reports its own nodes
  const client = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
    connectTimeout: timeoutMs,
  });
  // connect() rejects with "Connection is closed."; the socket's own error says why.
  let cause: unknown;
  client.on('error', (error) => {
    cause ??= error;
  });
  try {
    await client.connect();
    await client.ping();
  } catch (error) {
    throw cause ?? error;
  } finally {
    client.disconnect();
  }
}

/** Runs every check; the first failure ends the process with one line and exit code 1. */
export async function requireReachable(app: string, checks: ServerCheck[]): Promise<void> {
  for (const check of checks) {
    try {
      await check.probe();
    } catch (error) {
      process.stderr.write(`${app}: ${unreachableMessage(check, error)}\n`);
      process.exit(1);
    }
  }
}
