// createLogger(): a winston logger writing one JSON object per line to stdout, every line carrying the
// service, trace and request it belongs to, with secrets redacted; and, when the agent runs, the same
// record as an OTLP log record tied to the active span. One transport does both, so a log call pays for
// one pass through winston's streams, not two.
import { context, logs, trace, SeverityNumber, type AnyValue, type Context, type Logger } from '@opentelemetry/api';
import winston from 'winston';
import TransportStream from 'winston-transport';
import { agentState } from './state.js';
import { redactionPolicy } from './redact.js';
import { currentRequestId } from './request-id.js';
import { LOOKOUT_LOGGER_SCOPE } from './redacting-processors.js';

export interface LoggerOptions {
  /** Minimum level; default LOOKOUT_LOG_LEVEL, else `info`. */
  level?: string;
  /** Fields added to every line (for example `{ component: 'billing' }`). */
  defaultMeta?: Record<string, unknown>;
  /** Where JSON lines go; default process.stdout. */
  stream?: NodeJS.WritableStream;
}

// Carried on the record from the log call to the transport, which may run a tick later under backpressure.
const kContext = Symbol('lookout.logContext');
const kError = Symbol('lookout.logError');
// Fields of the line itself, or correlation fields some other hook (the winston instrumentation) added.
const NOT_ATTRIBUTES = new Set(['level', 'message', 'timestamp', 'trace_id', 'span_id', 'trace_flags']);

const SEVERITY: Record<string, SeverityNumber> = {
  error: SeverityNumber.ERROR,
  warn: SeverityNumber.WARN,
  info: SeverityNumber.INFO,
  http: SeverityNumber.INFO2,
  verbose: SeverityNumber.DEBUG2,
  debug: SeverityNumber.DEBUG,
  silly: SeverityNumber.TRACE,
};

type Info = winston.Logform.TransformableInfo & { [kContext]?: Context; [kError]?: Error };

/**
 * At the log call: captures the context, adds request_id, flattens Error fields, redacts. Works on a copy:
 * for logger.info(obj) winston hands us the caller's own object, which must come back unchanged.
 */
const enrich = winston.format((original: Info) => {
  const info: Info = Object.assign({}, original); // symbol keys (level, splat, message) included
  info[kContext] = context.active();
  const requestId = currentRequestId();
  if (requestId !== undefined && info.request_id === undefined) info.request_id = requestId;
  const policy = redactionPolicy();
  for (const key of Object.keys(info)) {
    if (key === 'level' || key === 'message') continue;
    const value = info[key];
    if (value instanceof Error) {
      info[kError] ??= value;
      info[key] = { type: value.name, message: value.message, stack: value.stack };
    } else if (policy.isSensitiveKey(key)) info[key] = '[REDACTED]';
    else if (value !== null && (typeof value === 'object' || typeof value === 'string')) info[key] = policy.redactValue(value);
  }
  if (typeof info.message === 'string') info.message = policy.redactString(info.message);
  return info;
});

class LookoutTransport extends TransportStream {
  // Looked up at the first record, not per record: the agent has registered its provider by then.
  private otelLogger: Logger | undefined;

  constructor(private readonly stream: NodeJS.WritableStream) {
    super();
  }

  override log(info: Info, done: () => void): void {
    const ctx = info[kContext] ?? context.active();
    const spanContext = trace.getSpanContext(ctx);
    const valid = spanContext !== undefined && trace.isSpanContextValid(spanContext);
    const line: Record<string, unknown> = {
      timestamp: new Date().toISOString(),
      level: info.level,
      message: info.message,
      'service.name': agentState().serviceName,
      ...(valid ? { trace_id: spanContext.traceId, span_id: spanContext.spanId } : {}),
    };
    const attributes: Record<string, AnyValue> = {};
    for (const key of Object.keys(info)) {
      if (NOT_ATTRIBUTES.has(key)) continue;
      line[key] = info[key];
      attributes[key] = info[key] as AnyValue;
    }
    this.stream.write(`${safeStringify(line)}\n`);

    if (agentState().logsEnabled) {
      const error = info[kError];
      if (error) {
        attributes['exception.type'] = error.name;
        attributes['exception.message'] = error.message;
        attributes['exception.stacktrace'] = error.stack ?? '';
      }
      this.otelLogger ??= logs.getLogger(LOOKOUT_LOGGER_SCOPE);
      this.otelLogger.emit({
        severityNumber: SEVERITY[info.level] ?? SeverityNumber.UNSPECIFIED,
        severityText: info.level,
        body: typeof info.message === 'string' ? info.message : safeStringify(info.message),
        attributes,
        context: ctx,
      });
    }
    done();
  }
}

export function createLogger(options: LoggerOptions = {}): winston.Logger {
  const logger = winston.createLogger({
    level: options.level ?? process.env.LOOKOUT_LOG_LEVEL ?? 'info',
    defaultMeta: options.defaultMeta,
    format: winston.format.combine(winston.format.errors({ stack: true }), enrich()),
    transports: [new LookoutTransport(options.stream ?? process.stdout)],
  });
  // The agent's winston instrumentation adds its OTLP transport to every new logger; ours already sends
  // the record, so drop the duplicate.
  for (const transport of logger.transports) {
    if (transport.constructor.name === 'OpenTelemetryTransportV3') logger.remove(transport);
  }
  return logger;
}

function safeStringify(value: unknown): string {
  try {
    // The plain call is the fast path; a replacer function would run for every key of every line.
    return JSON.stringify(value);
  } catch {
    // BigInt values are the common reason to land here.
  }
  try {
    return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
  } catch {
    // Circular structures: keep the fixed fields rather than throw inside the app's logging call.
    return JSON.stringify({ ...(value as object), fields: '[unserialisable]' }, ['timestamp', 'level', 'message', 'service.name', 'trace_id', 'span_id', 'request_id', 'fields']);
  }
}
