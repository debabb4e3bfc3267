// "New events were committed": a debounced NOTIFY sent after the ingest transaction, never inside it
// (NOTIFY takes a cluster-wide lock at commit; measured here it cut insert throughput 4x), and a LISTEN
// connection that wakes this replica's stream hub when any replica writes. The payload is empty: the hub
// reads the new rows itself, by transaction id, so a lost or merged notification loses nothing.
import pg from 'pg';
import type { Knex } from 'knex';

const CHANNEL = 'lookout_activity_events';

export class Notifier {
  private timer: NodeJS.Timeout | undefined;
  private listener: pg.Client | undefined;
  private closed = false;
  private reconnectDelayMs = 500;
  private readonly dead = new WeakSet<pg.Client>();
  listening = false;

  constructor(
    private readonly db: Knex,
    /** Connection string for the LISTEN connection; undefined (embedded PGlite) means local signals only. */
    private readonly listenUrl: string | undefined,
    private readonly onSignal: () => void,
    private readonly debounceMs = 20,
  ) {}

  async start(): Promise<void> {
    if (this.listenUrl) await this.connect();
  }

  /** Called after a commit: wakes local subscribers now and other replicas within `debounceMs`. */
  committed(): void {
    this.onSignal();
    if (!this.listenUrl || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      // Best effort: replicas also poll, so a failed NOTIFY only delays them.
      this.db.raw(`select pg_notify(?, '')`, [CHANNEL]).catch(() => {});
    }, this.debounceMs);
  }

  async stop(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    await this.listener?.end().catch(() => {});
  }

  private async connect(): Promise<void> {
    const client = new pg.Client({ connectionString: this.listenUrl, connectionTimeoutMillis: 3000, application_name: 'lookout-audit-api-listen' });
    client.on('notification', () => this.onSignal());
    client.on('error', () => this.reconnect(client));
    client.on('end', () => this.reconnect(client));
    try {
      await client.connect();
      await client.query(`listen ${CHANNEL}`);
      this.listener = client;
      this.listening = true;
      this.reconnectDelayMs = 500;
      // Anything committed while we were not listening.
      this.onSignal();
    } catch {
      this.reconnect(client);
    }
  }

  private reconnect(client: pg.Client): void {
    // 'error', 'end' and a failed connect can all report the same dead client.
    if (this.dead.has(client)) return;
    this.dead.add(client);
    if (this.listener === client) this.listener = undefined;
    this.listening = false;
    client.removeAllListeners();
    client.on('error', () => {});
    client.end().catch(() => {});
    if (this.closed) return;
    const delay = this.reconnectDelayMs;
    this.reconnectDelayMs = Math.min(delay * 2, 10_000);
    setTimeout(() => {
      if (!this.closed && !this.listener) void this.connect();
    }, delay).unref();
  }
}
