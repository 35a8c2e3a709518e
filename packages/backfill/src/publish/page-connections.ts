/// <reference path="../redis/cluster-key-slot.d.ts" />
/**
 * Connections of their own for page transactions (publisher.ts). A page is published with
 * `WATCH` … `MULTI` … `EXEC`, and a watch belongs to a connection, so each page in flight needs a
 * connection no other command shares; and its commands are written as the bytes Postgres rendered,
 * which ioredis (one command object per argument list) cannot send without building a command
 * per event. So these are plain sockets speaking RESP, opened with the options of the ioredis
 * client they serve (host, port or path, TLS, user, password, database) and kept in a pool per
 * Redis node: one per page in flight at most, so as many as the process runs jobs at once.
 */
import { connect as connectTcp, type Socket } from 'node:net';
import { type ConnectionOptions, connect as connectTls } from 'node:tls';
import calculateSlot from 'cluster-key-slot';
import type { Cluster, Redis, RedisOptions } from 'ioredis';
import { command, type Reply, ReplyError, ReplyReader } from '../redis/resp';

/** How long opening a connection (and its AUTH/SELECT) may take. */
const CONNECT_TIMEOUT_MS = 10_000;

export class PageConnection {
  private readonly reader = new ReplyReader();
  private waiting: { count: number; keep: boolean; replies: Reply[] } | undefined;
  private settle: { resolve: (r: Reply[]) => void; reject: (e: Error) => void } | undefined;
  private failure: Error | undefined;

  private constructor(private readonly socket: Socket) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      this.reader.push(chunk);
      this.drain();
    });
    const fail = (error: Error) => {
      this.failure ??= error;
      this.settle?.reject(this.failure);
      this.settle = undefined;
    };
    socket.on('error', fail);
    socket.on('close', () => fail(new Error('connection to Redis closed')));
  }

  static async open(options: RedisOptions, name: string): Promise<PageConnection> {
    const socket = options.path
      ? connectTcp({ path: options.path })
      : options.tls
        ? connectTls({
            ...(options.tls as ConnectionOptions),
            host: options.host ?? '127.0.0.1',
            port: options.port ?? 6379,
          })
        : connectTcp({ host: options.host ?? '127.0.0.1', port: options.port ?? 6379 });
    const connection = new PageConnection(socket);
    const timer = setTimeout(
      () => socket.destroy(new Error(`no connection to Redis within ${CONNECT_TIMEOUT_MS} ms`)),
      CONNECT_TIMEOUT_MS,
    );
    try {
      const hello: string[] = [];
      if (options.password) {
        hello.push(
          options.username
            ? command('AUTH', options.username, options.password)
            : command('AUTH', options.password),
        );
      }
      if (options.db) hello.push(command('SELECT', options.db));
      hello.push(command('CLIENT', 'SETNAME', name));
      const replies = await connection.send(hello, hello.length, true);
      const refused = replies.find((r) => r instanceof ReplyError);
      if (refused) throw refused;
      return connection;
    } catch (error) {
      socket.destroy();
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  get broken(): boolean {
    return this.failure !== undefined || this.socket.destroyed;
  }

  /**
   * Writes `parts` (commands, already in RESP) and resolves with the next `count` replies. Bulk
   * strings are decoded only when `keep` is set. One exchange at a time per connection.
   */
  send(parts: readonly (string | Buffer)[], count: number, keep: boolean): Promise<Reply[]> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.waiting = { count, keep, replies: [] };
      this.settle = { resolve, reject };
      this.socket.cork();
      for (const part of parts) this.socket.write(part);
      this.socket.uncork();
      this.drain();
    });
  }

  close(): void {
    this.socket.destroy();
  }

  private drain(): void {
    const waiting = this.waiting;
    if (!waiting) return;
    try {
      while (waiting.replies.length < waiting.count) {
        const reply = this.reader.read(waiting.keep);
        if (reply === ReplyReader.NEED_MORE) return;
        waiting.replies.push(reply);
      }
    } catch (error) {
      this.socket.destroy(error as Error);
      return;
    }
    this.waiting = undefined;
    const settle = this.settle;
    this.settle = undefined;
    settle?.resolve(waiting.replies);
  }
}

/** Idle connections per Redis node, for each ioredis client whose pages they carry. */
const pools = new WeakMap<Redis | Cluster, Map<string, PageConnection[]>>();

/** The node that holds `key`'s slot, as connection options and a pool key. */
function nodeFor(redis: Redis | Cluster, key: string): { options: RedisOptions; id: string } {
  if (!redis.isCluster) {
    const { options } = redis as Redis;
    return { options, id: options.path ?? `${options.host}:${options.port}` };
  }
  const cluster = redis as Cluster;
  const id = cluster.slots[calculateSlot(key)]?.[0];
  const node = cluster.nodes('master').find((n) => `${n.options.host}:${n.options.port}` === id);
  if (!id || !node) throw new Error(`no Redis Cluster node is known for the slot of ${key}`);
  return { options: node.options, id };
}

/**
 * Runs `use` on a connection of its own to the node holding `key`, then returns the connection
 * to the pool (or drops it if it broke). Connections are closed when the ioredis client ends.
 */
export async function withPageConnection<T>(
  redis: Redis | Cluster,
  key: string,
  use: (connection: PageConnection) => Promise<T>,
): Promise<T> {
  let pool = pools.get(redis);
  if (!pool) {
    const created = new Map<string, PageConnection[]>();
    pool = created;
    pools.set(redis, created);
    redis.once('end', () => {
      for (const idle of created.values()) for (const c of idle) c.close();
      created.clear();
    });
  }
  const node = nodeFor(redis, key);
  const idle = pool.get(node.id) ?? [];
  pool.set(node.id, idle);
  let connection = idle.pop();
  while (connection?.broken) connection = idle.pop();
  connection ??= await PageConnection.open(
    node.options,
    `${node.options.connectionName ?? 'historical-sync'}:pages`,
  );
  let result: T;
  try {
    result = await use(connection);
  } catch (error) {
    // Its state (a watch left on, a reply not read) is unknown: it is not used again.
    connection.close();
    throw error;
  }
  if (!connection.broken && redis.status !== 'end') idle.push(connection);
  else connection.close();
  return result;
}
