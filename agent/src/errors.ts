// Errors as Sentry users expect them: every exception event on a span and every log record that carries
// an exception gets `exception.fingerprint` (fingerprint.ts), log records written inside a request the
// user setUser() named, and `lookout.errors` counts the exceptions by fingerprint and type.
import { SpanKind, type Context, type Counter, type Meter } from '@opentelemetry/api';
import type { LogRecordProcessor, ReadWriteLogRecord } from '@opentelemetry/sdk-logs';
import type { ReadableSpan, Span, SpanProcessor } from '@opentelemetry/sdk-trace';
import { fingerprint, type FingerprintOptions } from './fingerprint.js';
import { ENDUSER_ID, requestUserOf } from './request-state.js';

export const FINGERPRINT = 'exception.fingerprint';
/** The fingerprint (and type) counted once the process has seen its limit of distinct fingerprints. */
export const OVERFLOW = '_overflow';

/**
 * `lookout.errors{exception.fingerprint, exception.type}`, with at most `maxFingerprints` distinct
 * fingerprints per process: a fault whose fingerprint comes after that is counted under `_overflow` (type
 * `_overflow` too, so everything past the limit is one series whatever its type).
 */
export class ErrorCounter {
  private readonly counter: Counter;
  private readonly seen = new Set<string>();

  constructor(meter: Meter, private readonly maxFingerprints: number) {
    this.counter = meter.createCounter('lookout.errors', {
      unit: '{exception}',
      description: 'Exceptions recorded on spans, by fingerprint (the same fault is one fingerprint) and type',
    });
  }

  add(fingerprintValue: string, type: string): void {
    if (!this.seen.has(fingerprintValue)) {
      if (this.seen.size >= this.maxFingerprints) {
        this.counter.add(1, { [FINGERPRINT]: OVERFLOW, 'exception.type': OVERFLOW });
        return;
      }
      this.seen.add(fingerprintValue);
    }
    this.counter.add(1, { [FINGERPRINT]: fingerprintValue, 'exception.type': type === '' ? '_OTHER' : type });
  }
}

/** Exceptions counted in the last traces seen: enough for every span of a request in flight to end. */
const RECENT_LIMIT = 1024;

/**
 * Adds `exception.fingerprint` to each `exception` event of an ending span, whoever recorded it (our hooks,
 * upstream instrumentations, the app's own span.recordException), and counts it. Runs after the redacting
 * processor (so the message it may fall back on is the exported one) and before the batch processor (which
 * exports these same event objects later). A span without events costs one length check.
 *
 * Counted: events on server, consumer and internal spans, once per trace and fingerprint. A failed call
 * recorded on a client or producer span is the dependency's failure, already in http.client and db.client
 * metrics' error.type; when the app does not handle it, it reaches the server span and is counted there.
 * The same error recorded on an internal span and again on the server span has the same stack, so the
 * same fingerprint in the same trace: one count.
 */
export class ErrorFingerprintSpanProcessor implements SpanProcessor {
  private readonly recent = new Set<string>();

  constructor(
    private readonly options: FingerprintOptions,
    private readonly counter: ErrorCounter,
  ) {}

  onStart(_span: Span, _context: Context): void {}

  onEnd(span: ReadableSpan): void {
    const events = span.events;
    if (events.length === 0) return;
    const counted = span.kind !== SpanKind.CLIENT && span.kind !== SpanKind.PRODUCER;
    for (const event of events) {
      if (event.name !== 'exception' || event.attributes === undefined) continue;
      const attributes = event.attributes as Record<string, unknown>;
      const type = stringOf(attributes['exception.type']);
      const value = fingerprint({ type, message: stringOf(attributes['exception.message']), stack: stringOf(attributes['exception.stacktrace']) }, this.options);
      attributes[FINGERPRINT] = value;
      if (counted && this.firstInTrace(span.spanContext().traceId, value)) this.counter.add(value, type ?? '');
    }
  }

  private firstInTrace(traceId: string, value: string): boolean {
    const key = `${traceId}/${value}`;
    if (this.recent.has(key)) return false;
    // A Set iterates in insertion order: the first entry is the oldest.
    if (this.recent.size >= RECENT_LIMIT) this.recent.delete(this.recent.values().next().value!);
    this.recent.add(key);
    return true;
  }

  async forceFlush(): Promise<void> {}
  async shutdown(): Promise<void> {}
}

/**
 * Adds `exception.fingerprint` to log records that carry an exception (exception.type or
 * exception.stacktrace: createLogger(), the winston and pino hooks and the crash record put them there),
 * and `enduser.id` to records written inside a request after setUser(). Records are not counted: an error
 * is usually both logged and recorded on its span, and would count twice.
 */
export class ErrorLogRecordProcessor implements LogRecordProcessor {
  constructor(private readonly options: FingerprintOptions) {}

  onEmit(record: ReadWriteLogRecord, context?: Context): void {
    const attributes = record.attributes;
    if (attributes['exception.type'] !== undefined || attributes['exception.stacktrace'] !== undefined) {
      record.setAttribute(
        FINGERPRINT,
        fingerprint(
          {
            type: stringOf(attributes['exception.type']),
            message: stringOf(attributes['exception.message']),
            stack: stringOf(attributes['exception.stacktrace']),
          },
          this.options,
        ),
      );
    }
    if (context === undefined || attributes[ENDUSER_ID] !== undefined) return;
    const user = requestUserOf(context);
    if (user !== undefined) record.setAttribute(ENDUSER_ID, user);
  }

  async forceFlush(): Promise<void> {}
  async shutdown(): Promise<void> {}
}

function stringOf(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}
