// Fans newly committed events out to this replica's SSE subscribers. One reader per replica, woken by the
// notifier (and by a slow fallback timer), reads, in one snapshot, every event that snapshot sees and the
// previous one did not (see CommittedReader.committedSince): a transaction that took a lower id or
// sequence but commits later is read by the first pass whose snapshot sees it. Each pass goes to every
// subscriber, with the events of its tenant that match its filters and each one's position (position.ts).
import { matches, type ActivityFilters } from '../domain/filters.js';
import type { AuditMetrics } from '../metrics.js';
import type { CommittedReader, TxEvent } from './committed.js';
import { after, encode, type Position } from './position.js';

/** An event of a live pass, with its SSE id: the position after it, for a subscriber that was at `before`. */
export interface LiveEvent extends TxEvent {
  id: string;
}

export interface LivePass {
  /** What the subscriber is assumed to have been sent before this pass: the previous pass's snapshot. */
  before: Position;
  snapshot: Position;
  /** The subscriber's events, in pass order. */
  events: LiveEvent[];
}

export interface Subscriber {
  tenantId: string;
  filters: ActivityFilters;
  /** Called for every pass, events or not, so the subscriber's position follows the hub's. */
  deliver(pass: LivePass): void;
  /** Events handed to this subscriber and not yet written to its client. */
  queued(): number;
}

export class StreamHub {
  private readonly byTenant = new Map<string, Set<Subscriber>>();
  /** The snapshot of the last pass: every event it sees has been handed out. */
  private position: Position | undefined;
  /** The poll loop in progress, if any; wake() during it makes it go round once more. */
  private running: Promise<void> | undefined;
  private again = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    /** The stream's reads; resumed subscribers replay through it too. */
    readonly reader: CommittedReader,
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
   * (With no subscribers the hub has no position; one taken lazily at the next poll would start after any
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
    if (this.position === undefined) {
      // A poll pass that starts after the subscriber was added sets the position before it reads.
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
          this.position = undefined;
          break;
        }
        this.position ??= await this.reader.currentSnapshot();
        const before = this.position;
        const { snapshot, events } = await this.reader.committedSince(before);
        const now = Date.now();
        const passes = new Map<Subscriber, LiveEvent[]>();
        for (const row of events) {
          this.metrics.streamLag.record(Math.max(0, now - Date.parse(row.event.received_at)) / 1000);
          const subscribers = this.byTenant.get(row.event.tenant_id);
          if (!subscribers) continue;
          let live: LiveEvent | undefined;
          for (const subscriber of subscribers) {
            if (!matches(subscriber.filters, row.event)) continue;
            // One id per event for every subscriber that was at `before`.
            live ??= { ...row, id: encode(after(before, snapshot, row.tx, row.seq)) };
            let list = passes.get(subscriber);
            if (!list) passes.set(subscriber, (list = []));
            list.push(live);
          }
        }
        this.position = snapshot;
        for (const subscribers of this.byTenant.values()) {
          for (const subscriber of subscribers) subscriber.deliver({ before, snapshot, events: passes.get(subscriber) ?? [] });
        }
      } while (this.again);
    } catch (err) {
      this.onError(err);
    }
  }
}
