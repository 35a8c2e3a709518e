/**
 * LISTEN on a dedicated connection so the relay wakes the moment an outbox row commits. The
 * relay also polls, so a notification missed while reconnecting only costs one poll interval.
 */
import pg from 'pg';
import type { Logger } from 'pino';

const MIN_RETRY_MS = 250;
const MAX_RETRY_MS = 10_000;

export class OutboxListener {
  private client: pg.Client | undefined;
  private closed = false;
  private retryTimer: NodeJS.Timeout | undefined;
  /** Reconnect delay: doubles per failed attempt up to MAX_RETRY_MS, reset on success. */
  private retryMs = 0;
  /** When the current outage began (0 while connected): one warning per outage. */
  private outageSince = 0;

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
      this.reportOutage(error, 'outbox listener lost its connection; reconnecting with backoff');
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
      if (this.outageSince) {
        this.logger.info(
          { outageMs: Date.now() - this.outageSince },
          'outbox listener connected again',
        );
      }
      this.outageSince = 0;
      this.retryMs = 0;
      // Rows may have arrived while not listening.
      this.onNotify();
    } catch (error) {
      this.reportOutage(error, 'outbox listener could not connect; retrying with backoff');
      this.reconnectSoon(client);
    }
  }

  private reconnectSoon(client: pg.Client) {
    if (this.closed || this.retryTimer) return;
    if (this.client === client) this.client = undefined;
    client.removeAllListeners('end');
    client.end().catch(() => {});
    this.retryMs = Math.min(MAX_RETRY_MS, this.retryMs ? this.retryMs * 2 : MIN_RETRY_MS);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.start();
    }, this.retryMs);
  }

  private reportOutage(error: unknown, message: string) {
    if (this.outageSince) {
      this.logger.debug({ err: error }, message);
      return;
    }
    this.outageSince = Date.now();
    this.logger.warn({ err: error }, message);
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
