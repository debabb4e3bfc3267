// Fans newly committed events out to this replica's SSE subscribers. One reader per replica, woken by the
// notifier (and by a slow fallback timer), reads every transaction committed since its cursor and hands
// each event to the subscribers of its tenant whose filters match. The cursor is a transaction id, not a
// sequence number: a transaction that took a lower sequence but commits later is still read (see
// CommittedReader.committedSince), and transactions already delivered are remembered until the cursor passes them.
import type { StoredEvent } from '../domain/activity-event.js';
import { matches, type ActivityFilters } from '../domain/filters.js';
import type { AuditMetrics } from '../metrics.js';
import type { CommittedReader } from './committed.js';

export interface Subscriber {
  tenantId: string;
  filters: ActivityFilters;
  deliver(event: StoredEvent): void;
  /** Events handed to this subscriber and not yet written to its client. */
  queued(): number;
}

export class StreamHub {
  private readonly byTenant = new Map<string, Set<Subscriber>>();
  private cursor: bigint | undefined;
  private readonly delivered = new Set<string>();
  /** The poll loop in progress, if any; wake() during it makes it go round once more. */
  private running: Promise<void> | undefined;
  private again = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly reader: CommittedReader,
    private readonly metrics: AuditMetrics,
    private readonly onError: (err: unknown) => void,
    private readonly fallbackPollMs = 1000,
  ) {}

  start(): void {
    this.timer = setInterval(() => this.wake(), this.fallbackPollMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /**
   * Starts delivering to `subscriber`; call the returned function to stop. Resolves once the hub reads
   * from a point no later than this call: every event committed after it resolves reaches the subscriber.
   * (With no subscribers the hub has no cursor; one taken lazily at the next poll would start after any
   * transaction that committed in between, and the new subscriber would miss it.)
   */
  async subscribe(subscriber: Subscriber): Promise<() => void> {
    let set = this.byTenant.get(subscriber.tenantId);
    if (!set) this.byTenant.set(subscriber.tenantId, (set = new Set()));
    set.add(subscriber);
    const unsubscribe = () => {
      set.delete(subscriber);
      if (set.size === 0) this.byTenant.delete(subscriber.tenantId);
    };
    if (this.cursor === undefined) {
      // A poll pass that starts after the subscriber was added sets the cursor before it reads.
      this.wake();
      await this.running;
    }
    return unsubscribe;
  }

  /** Events buffered for this replica's subscribers, all together (lookout.audit.queue.depth{queue="stream"}). */
  queuedEvents(): number {
    let total = 0;
    for (const subscribers of this.byTenant.values()) for (const subscriber of subscribers) total += subscriber.queued();
    return total;
  }

  /** Something was committed (here or on another replica): read it soon. */
  wake(): void {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.poll().finally(() => (this.running = undefined));
  }

  private async poll(): Promise<void> {
    try {
      do {
        this.again = false;
        if (this.byTenant.size === 0) {
          // Nobody listening: skip ahead; a new subscriber catches up from the table with Last-Event-ID.
          this.cursor = undefined;
          this.delivered.clear();
          break;
        }
        this.cursor ??= BigInt(await this.reader.currentXmin());
        const { xmin, rows } = await this.reader.committedSince(this.cursor.toString());
        const now = Date.now();
        const seen = new Set<string>();
        for (const row of rows) {
          if (this.delivered.has(row.tx_id)) continue;
          seen.add(row.tx_id);
          this.metrics.streamLag.record(Math.max(0, now - Date.parse(row.received_at)) / 1000);
          const subscribers = this.byTenant.get(row.tenant_id);
          if (!subscribers) continue;
          const { tx_id: _tx, ...event } = row;
          for (const subscriber of subscribers) if (matches(subscriber.filters, event)) subscriber.deliver(event);
        }
        for (const tx of seen) this.delivered.add(tx);
        const next = BigInt(xmin);
        if (next > this.cursor) this.cursor = next;
        for (const tx of this.delivered) if (BigInt(tx) < this.cursor) this.delivered.delete(tx);
      } while (this.again);
    } catch (err) {
      this.onError(err);
    }
  }
}
