// createLogger(): a winston logger writing one JSON object per line to stdout, every line carrying the
// service, trace and request it belongs to, with secrets redacted; and OTLP log records through the
// OpenTelemetry winston transport when the agent is running.
import { context, trace } from '@opentelemetry/api';
import { OpenTelemetryTransportV3 } from '@opentelemetry/winston-transport';
import winston from 'winston';
import { agentState } from './state.js';
import { redactionPolicy } from './redact.js';
import { currentRequestId } from './request-id.js';

export interface LoggerOptions {
  /** Minimum level; default LOOKOUT_LOG_LEVEL, else `info`. */
  level?: string;
  /** Fields added to every line (for example `{ component: 'billing' }`). */
  defaultMeta?: Record<string, unknown>;
  /** Where JSON lines go; default process.stdout. */
  stream?: NodeJS.WritableStream;
}

const kMessageFields = new Set(['level', 'message', 'timestamp']);

/** Adds request_id and turns Error fields into plain {type, message, stack}; then redacts. */
const enrich = winston.format((info) => {
  const requestId = currentRequestId();
  if (requestId !== undefined && info.request_id === undefined) info.request_id = requestId;
  const policy = redactionPolicy();
  for (const key of Object.keys(info)) {
    if (kMessageFields.has(key)) continue;
    const value = info[key];
    if (value instanceof Error) info[key] = { type: value.name, message: value.message, stack: value.stack };
    else if (policy.isSensitiveKey(key)) info[key] = '[REDACTED]';
    else info[key] = policy.redactValue(value);
  }
  if (typeof info.message === 'string') info.message = policy.redactString(info.message);
  return info;
});

/** The stdout line: fixed fields first so lines read alike, then the rest. */
const jsonLine = winston.format((info) => {
  const spanContext = trace.getSpan(context.active())?.spanContext();
  const { level, message, timestamp, ...fields } = info;
  const line: Record<string, unknown> = {
    timestamp,
    level,
    message,
    'service.name': agentState().serviceName,
  };
  if (spanContext && trace.isSpanContextValid(spanContext)) {
    line.trace_id = spanContext.traceId;
    line.span_id = spanContext.spanId;
  }
  Object.assign(line, fields);
  delete line.trace_flags;
  info[Symbol.for('message') as unknown as string] = safeStringify(line);
  return info;
});

export function createLogger(options: LoggerOptions = {}): winston.Logger {
  const logger = winston.createLogger({
    level: options.level ?? process.env.LOOKOUT_LOG_LEVEL ?? 'info',
    defaultMeta: options.defaultMeta,
    format: winston.format.combine(winston.format.errors({ stack: true }), enrich()),
    transports: [
      new winston.transports.Stream({
        stream: options.stream ?? process.stdout,
        // The timestamp belongs to the line only; OTLP records carry their own.
        format: winston.format.combine(winston.format.timestamp(), jsonLine()),
      }),
    ],
  });
  // With the agent's winston instrumentation active, winston.createLogger already added the OTLP
  // transport to this logger; add it ourselves only when it did not (instrumentation disabled).
  if (agentState().logsEnabled && !logger.transports.some((t) => t.constructor.name === OpenTelemetryTransportV3.name)) {
    logger.add(new OpenTelemetryTransportV3());
  }
  return logger;
}

function safeStringify(value: unknown): string {
  try {
    return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
  } catch {
    // Circular structures: log what we can rather than throw inside the app's logging call.
    return JSON.stringify({ ...(value as object), fields: '[unserialisable]' }, ['timestamp', 'level', 'message', 'service.name', 'trace_id', 'span_id', 'request_id', 'fields']);
  }
}
