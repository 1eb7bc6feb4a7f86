import type { Client } from 'pg';
import { SIGNAL_CHANNEL } from './cluster-signal';

/**
 * A session is asked something this often, and taken as dead when it does not answer within
 * ANSWER_WITHIN_MS (sends alike): a connection lost without a word from the network (a
 * partition, a NAT dropping it) would otherwise stay "up" for as long as TCP keeps it, hours,
 * while this node hears nothing.
 */
const PING_EVERY_MS = 2000;
const ANSWER_WITHIN_MS = 3000;

/**
 * One session on the cluster's database that LISTENs on the signal channel and sends
 * signals (pg_notify) through the same client, so that what this node sends goes out in the
 * order it was sent. It lives from `open` until it breaks or is closed, once: `ended`
 * resolves then (with the error, if it broke), and it is never reused — the relay opens a
 * new one.
 */
export class SignalConnection {
  readonly ended: Promise<Error | undefined>;

  private constructor(
    private readonly client: Client,
    ended: Promise<Error | undefined>,
  ) {
    this.ended = ended;
  }

  /**
   * Connects and listens; `receive` gets every payload on the channel (this node's own
   * included). `name` shows in pg_stat_activity.application_name.
   */
  static async open(url: string, name: string, receive: (payload: string) => void): Promise<SignalConnection> {
    // Loaded here, so that a server without a cluster never loads the driver.
    const { Client } = await import('pg');
    const client = new Client({ connectionString: url, application_name: name, connectionTimeoutMillis: 5000, query_timeout: ANSWER_WITHIN_MS });
    const ended = new Promise<Error | undefined>((resolve) => {
      client.once('error', resolve);
      client.once('end', () => resolve(undefined));
    });
    // After the first error the client may still emit others; they change nothing.
    client.on('error', () => undefined);
    client.on('notification', (notification) => {
      if (notification.channel === SIGNAL_CHANNEL && notification.payload !== undefined) receive(notification.payload);
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${SIGNAL_CHANNEL}`);
    } catch (error) {
      await client.end().catch(() => undefined);
      throw error;
    }
    // A query that times out is still under way: end() then destroys the socket, and `ended` follows.
    const ping = setInterval(() => client.query('SELECT 1').catch(() => client.end().catch(() => undefined)), PING_EVERY_MS);
    void ended.then(() => clearInterval(ping));
    return new SignalConnection(client, ended);
  }

  /** Sends one payload to every listening session (NOTIFY; delivered once committed, which is at once here). */
  async send(payload: string): Promise<void> {
    await this.client.query('SELECT pg_notify($1, $2)', [SIGNAL_CHANNEL, payload]);
  }

  async close(): Promise<void> {
    await this.client.end().catch(() => undefined);
  }
}
