/**
 * LISTEN on a dedicated connection so the relay wakes the moment an outbox row commits. The
 * relay also polls, so a notification missed while reconnecting only costs one poll interval.
 */
import pg from 'pg';
import type { Logger } from 'pino';

export class OutboxListener {
  private client: pg.Client | undefined;
  private closed = false;
  private retryTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly connectionString: string,
    private readonly channel: string,
    private readonly onNotify: () => void,
    private readonly logger: Logger,
  ) {}

  async start(): Promise<void> {
    if (this.closed) return;
    const client = new pg.Client({
      connectionString: this.connectionString,
      application_name: 'historical-sync-relay-listen',
    });
    client.on('notification', () => this.onNotify());
    client.on('error', (error) => {
      this.logger.warn({ err: error }, 'outbox listener lost its connection; reconnecting');
      this.reconnectSoon(client);
    });
    client.on('end', () => this.reconnectSoon(client));
    try {
      await client.connect();
      if (this.closed) {
        // close() ran while connecting: this connection is nobody's to end but ours.
        client.removeAllListeners('end');
        await client.end().catch(() => {});
        return;
      }
      await client.query(`LISTEN ${pg.escapeIdentifier(this.channel)}`);
      this.client = client;
      // Rows may have arrived while not listening.
      this.onNotify();
    } catch (error) {
      this.logger.warn({ err: error }, 'outbox listener could not connect; retrying');
      this.reconnectSoon(client);
    }
  }

  private reconnectSoon(client: pg.Client) {
    if (this.closed || this.retryTimer) return;
    if (this.client === client) this.client = undefined;
    client.removeAllListeners('end');
    client.end().catch(() => {});
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.start();
    }, 1_000);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    const client = this.client;
    this.client = undefined;
    if (client) {
      client.removeAllListeners('end');
      await client.end().catch(() => {});
    }
  }
}
