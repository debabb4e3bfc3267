// What an audit client did with its events: the counts behind `stats` and the lookout.agent.audit.* metrics.
import { metrics, type Counter } from '@opentelemetry/api';

export interface AuditStats {
  /** Every record() call, accepted or not: recorded = delivered + Σ dropped + buffered. */
  recorded: number;
  /** Events the audit API confirmed (201). */
  delivered: number;
  /** By reason: not_configured, invalid, buffer_full, rejected, shutdown. */
  dropped: Record<string, number>;
  /** Events waiting, including those of the request in flight. */
  buffered: number;
}

export type AuditDropReason = 'not_configured' | 'invalid' | 'buffer_full' | 'rejected' | 'shutdown';

export class AuditCounts {
  recorded = 0;
  delivered = 0;
  readonly dropped: Record<string, number> = {};
  private counters: { dropped: Counter; delivered: Counter } | undefined;

  deliver(count: number): void {
    this.delivered += count;
    this.metricCounters().delivered.add(count);
  }

  drop(reason: AuditDropReason, count: number): void {
    this.dropped[reason] = (this.dropped[reason] ?? 0) + count;
    this.metricCounters().dropped.add(count, { reason });
  }

  /** Made on first use, when the agent has registered its meter provider; no-ops without it. */
  private metricCounters(): { dropped: Counter; delivered: Counter } {
    if (this.counters) return this.counters;
    const meter = metrics.getMeter('@lookout/agent');
    this.counters = {
      dropped: meter.createCounter('lookout.agent.audit.dropped', {
        unit: '{event}',
        description: 'Audit events the agent gave up on, by reason (not_configured, invalid, buffer_full, rejected, shutdown)',
      }),
      delivered: meter.createCounter('lookout.agent.audit.delivered', { unit: '{event}', description: 'Audit events the audit API confirmed' }),
    };
    return this.counters;
  }
}
