// Span and log-record processors that apply the redaction policy before anything is exported.
// Each runs ahead of the batching processor in its provider's list, so what is queued is already clean.
import type { Context } from '@opentelemetry/api';
import type { LogRecordProcessor, ReadWriteLogRecord } from '@opentelemetry/sdk-logs';
import type { ReadableSpan, Span, SpanProcessor } from '@opentelemetry/sdk-trace';
import type { RedactionPolicy } from './redact.js';

export class RedactingSpanProcessor implements SpanProcessor {
  constructor(private readonly policy: RedactionPolicy) {}

  onStart(_span: Span, _context: Context): void {}

  onEnd(span: ReadableSpan): void {
    // The span has ended and nothing else writes to it; its attribute objects are ours to clean.
    this.policy.redactAttributesInPlace(span.attributes as Record<string, unknown>);
    for (const event of span.events) {
      if (event.attributes) this.policy.redactAttributesInPlace(event.attributes as Record<string, unknown>);
    }
    // Error messages end up in the status too.
    if (span.status.message) (span.status as { message?: string }).message = this.policy.redactString(span.status.message);
  }

  async forceFlush(): Promise<void> {}
  async shutdown(): Promise<void> {}
}

/** Scope of the records createLogger() emits: they were redacted at the log call, so they skip a second pass. */
export const LOOKOUT_LOGGER_SCOPE = '@lookout/agent';

export class RedactingLogRecordProcessor implements LogRecordProcessor {
  constructor(private readonly policy: RedactionPolicy) {}

  onEmit(record: ReadWriteLogRecord): void {
    if (record.instrumentationScope.name === LOOKOUT_LOGGER_SCOPE) return;
    this.policy.redactAttributesInPlace(record.attributes as Record<string, unknown>);
    if (typeof record.body === 'string') {
      const clean = this.policy.redactString(record.body);
      if (clean !== record.body) record.setBody(clean);
    } else if (record.body !== null && typeof record.body === 'object') {
      // A map or list body (a logger given an object for its message).
      record.setBody(this.policy.redactValue(record.body));
    }
  }

  async forceFlush(): Promise<void> {}
  async shutdown(): Promise<void> {}
}
