// The API's own audit events that must not slow the request that caused them (a rejected token is
// recorded for every bad request, so a flood of them must not become a flood of synchronous inserts):
// a bounded queue written in batches; when full or when the database is down, events are dropped and counted.
import type { NewEvent } from './domain/activity-event.js';
import type { AuditMetrics } from './metrics.js';
import type { EventStore } from './store/events.js';

export class SelfAudit {
  private queue: { tenantId: string; event: NewEvent }[] = [];
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;

  constructor(
    private readonly store: EventStore,
    private readonly metrics: AuditMetrics,
    private readonly onError: (err: unknown) => void,
    private readonly maxQueued = 1000,
    private readonly intervalMs = 250,
  ) {}

  /** Events waiting for the next batch write (lookout.audit.queue.depth{queue="self_audit"}). */
  get depth(): number {
    return this.queue.length;
  }

  record(tenantId: string, event: NewEvent): void {
    if (this.queue.length >= this.maxQueued) {
      this.metrics.selfAuditDropped.add(1, { reason: 'queue_full' });
      return;
    }
    this.queue.push({ tenantId, event });
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, this.intervalMs);
  }

  async flush(): Promise<void> {
    if (this.flushing) return this.flushing;
    this.flushing = this.write().finally(() => (this.flushing = undefined));
    return this.flushing;
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.flush();
  }

  private async write(): Promise<void> {
    const batch = this.queue;
    this.queue = [];
    const byTenant = new Map<string, NewEvent[]>();
    for (const { tenantId, event } of batch) byTenant.set(tenantId, [...(byTenant.get(tenantId) ?? []), event]);
    for (const [tenantId, events] of byTenant) {
      try {
        await this.store.insert(tenantId, events);
      } catch (err) {
        this.metrics.selfAuditDropped.add(events.length, { reason: 'write_failed' });
        this.onError(err);
      }
    }
  }
}
