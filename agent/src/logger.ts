// createLogger(): a winston logger writing one JSON object per line to stdout, every line carrying the
// service, trace and request it belongs to, with secrets redacted; and, when the agent runs, the same
// record as an OTLP log record tied to the active span. One pass builds both from the log call: fields are
// copied, flattened and redacted once, and serve as the line's fields and the record's attributes alike.
import { context, logs, trace, INVALID_TRACEID, SeverityNumber, type AnyValue, type Context, type Logger } from '@opentelemetry/api';
import winston from 'winston';
import TransportStream from 'winston-transport';
import { libraryConfig } from './config.js';
import { agentState } from './state.js';
import { redactionPolicy, type RedactionPolicy } from './redact.js';
import { currentRequestId } from './request-id.js';
import { LOOKOUT_LOGGER_SCOPE } from './redacting-processors.js';

export interface LoggerOptions {
  /** Minimum level; default LOOKOUT_LOG_LEVEL (a winston level; anything else warns once), else `info`. */
  level?: string;
  /** Fields added to every line (for example `{ component: 'billing' }`). */
  defaultMeta?: Record<string, unknown>;
  /** Where JSON lines go; default process.stdout. */
  stream?: NodeJS.WritableStream;
}

// winston's own symbol for an info's level (triple-beam's LEVEL), shared by every copy of winston.
const LEVEL = Symbol.for('level');
// Carried on the info from the log call to the transport, which may run a tick later under backpressure.
const kContext = Symbol('lookout.logContext');
const kError = Symbol('lookout.logError');
const kPrepared = Symbol('lookout.logPrepared');
// Shared with the preload's winston hook (a separate bundle), hence Symbol.for.
const OWN_RECORDS = Symbol.for('lookout.logger.ownRecords');
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

type Info = winston.Logform.TransformableInfo & { [kContext]?: Context; [kError]?: Error; [kPrepared]?: true };

/**
 * The one pass at the log call: a copy of the info (for logger.info(obj) winston hands us the caller's own
 * object, which must come back unchanged) with the context captured, request_id added, Error fields
 * flattened and secrets redacted. Other transports an app adds see the same clean copy.
 */
function prepare(original: Info, policy: RedactionPolicy): Info {
  const info: Info = { level: original.level, message: original.message };
  // Symbol keys too (winston's level, splat and message), as Object.assign would copy them.
  for (const symbol of Object.getOwnPropertySymbols(original)) (info as Record<symbol, unknown>)[symbol] = (original as Record<symbol, unknown>)[symbol];
  info[kContext] = context.active();
  info[kPrepared] = true;
  for (const key in original) {
    if (key === 'level' || key === 'message') continue;
    const value = original[key];
    if (value instanceof Error) {
      // Error messages quote the values that failed: the line and the record's exception.* get a redacted copy.
      const error = policy.redactValue(value);
      info[kError] ??= error;
      info[key] = { type: error.name, message: error.message, stack: error.stack };
    } else if (policy.isSensitiveKey(key)) info[key] = '[REDACTED]';
    else if (typeof value === 'string') info[key] = policy.redactString(value);
    else if (value !== null && typeof value === 'object') info[key] = policy.redactValue(value);
    else info[key] = value;
  }
  if (info.request_id === undefined) {
    const requestId = currentRequestId();
    if (requestId !== undefined) info.request_id = requestId;
  }
  // logger.info({ … }) without a message string makes the object the message.
  if (typeof info.message === 'string') info.message = policy.redactString(info.message);
  else if (info.message !== null && typeof info.message === 'object') info.message = policy.redactValue(info.message);
  return info;
}

const enrich = winston.format((info: Info) => (info[kPrepared] ? info : prepare(info, redactionPolicy())));

/** Writes a prepared info as one JSON line and, when the agent exports logs, as one OTLP log record. */
class LookoutTransport extends TransportStream {
  // Looked up at the first record, not per record: the agent has registered its provider by then.
  private otelLogger: Logger | undefined;
  private readonly state = agentState();

  constructor(private readonly stream: NodeJS.WritableStream) {
    super();
  }

  override log(info: Info, done: () => void): void {
    this.deliver(info);
    done();
  }

  deliver(info: Info): void {
    const ctx = info[kContext] ?? context.active();
    const spanContext = trace.getSpanContext(ctx);
    const correlated = spanContext !== undefined && spanContext.traceId !== INVALID_TRACEID;
    const attributes: Record<string, AnyValue> = {};
    for (const key in info) {
      if (!NOT_ATTRIBUTES.has(key)) attributes[key] = info[key] as AnyValue;
    }
    const timestamp = Date.now();
    // The line's fixed fields first, then the attributes, without building a second object for it.
    const head =
      `{"timestamp":"${new Date(timestamp).toISOString()}","level":${JSON.stringify(info.level)},"message":${safeStringify(info.message)}` +
      `,"service.name":${JSON.stringify(this.state.serviceName)}` +
      (correlated ? `,"trace_id":"${spanContext.traceId}","span_id":"${spanContext.spanId}"` : '');
    const fields = safeStringify(attributes, info);
    this.stream.write(fields === '{}' ? `${head}}\n` : `${head},${fields.slice(1)}\n`);

    if (!this.state.logsEnabled) return;
    const error = info[kError];
    if (error) {
      attributes['exception.type'] = error.name;
      attributes['exception.message'] = error.message;
      attributes['exception.stacktrace'] = error.stack ?? '';
    }
    this.otelLogger ??= logs.getLogger(LOOKOUT_LOGGER_SCOPE);
    this.otelLogger.emit({
      timestamp,
      severityNumber: SEVERITY[info.level] ?? SeverityNumber.UNSPECIFIED,
      severityText: info.level,
      body: typeof info.message === 'string' ? info.message : safeStringify(info.message),
      attributes,
      context: ctx,
    });
  }
}

export function createLogger(options: LoggerOptions = {}): winston.Logger {
  const format = winston.format.combine(winston.format.errors({ stack: true }), enrich());
  const transport = new LookoutTransport(options.stream ?? process.stdout);
  const logger = winston.createLogger({
    level: options.level ?? libraryConfig().logLevel,
    defaultMeta: options.defaultMeta,
    format,
    transports: [transport],
  });
  // Upstream's winston instrumentation (LOOKOUT_UPSTREAM_INSTRUMENTATIONS=winston) adds its OTLP transport to
  // every new logger; with our agent running ours already sends the record, so drop the duplicate. Under
  // another agent (upstream's own register) that transport is the only way records leave: keep it.
  if (agentState().started) {
    for (const existing of logger.transports) {
      if (existing.constructor.name === 'OpenTelemetryTransportV3') logger.remove(existing);
    }
  }
  // The agent's winston hook (winston.ts) leaves this logger alone: it correlates and emits its own records.
  (logger as winston.Logger & { [OWN_RECORDS]?: true })[OWN_RECORDS] = true;
  installFastWrite(logger, format, transport);
  return logger;
}

/**
 * While our transport is the logger's only reader and its format is ours, a log call goes straight from
 * the format to the transport, synchronously: winston's object-mode stream pipeline (a Transform pushing to
 * a piped Writable, about a third of a log line's CPU in a profile) does nothing else for it. Add a
 * transport, a format or a 'data' listener and the logger takes winston's own path again.
 */
function installFastWrite(logger: winston.Logger, format: winston.Logform.Format, transport: LookoutTransport): void {
  type Internals = winston.Logger & {
    _readableState: { pipes: unknown };
    levels: Record<string, number>;
  };
  const streamWrite = logger.write;
  const fastWrite = function (this: Internals, info: Info, ...rest: unknown[]): boolean {
    const pipes = this._readableState.pipes;
    const onlyOurs = pipes === transport || (Array.isArray(pipes) && pipes.length === 1 && pipes[0] === transport);
    if (!onlyOurs || this.format !== format || this.listenerCount('data') !== 1 || rest.length > 0) {
      return (streamWrite as (this: Internals, ...args: unknown[]) => boolean).call(this, info, ...rest);
    }
    if (this.silent) return true;
    (info as Record<symbol, unknown>)[LEVEL] ??= info.level;
    const given = this.levels[(info as Record<symbol, string>)[LEVEL]!];
    // An unknown level: winston's own path says so and drops the line.
    if (given === undefined) return (streamWrite as (this: Internals, ...args: unknown[]) => boolean).call(this, info);
    // The checks winston's transport makes (TransportStream#_write).
    const level = transport.level || this.level;
    if (transport.silent || (level && this.levels[level]! < given)) return true;
    const out = format.transform(info, (format as { options?: object }).options) as Info | false;
    if (out) transport.deliver(out);
    return true;
  };
  logger.write = fastWrite as typeof logger.write;
}

/** JSON for a line; never throws inside the app's logging call. `whole` names what a fallback keeps. */
function safeStringify(value: unknown, whole?: Info): string {
  try {
    // The plain call is the fast path; a replacer function would run for every key of every line.
    return JSON.stringify(value) ?? '""';
  } catch {
    // BigInt values are the common reason to land here.
  }
  try {
    return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
  } catch {
    // Circular structures: keep the correlation fields rather than throw.
    const kept: Record<string, unknown> = { fields: '[unserialisable]' };
    if (whole?.request_id !== undefined) kept.request_id = whole.request_id;
    return JSON.stringify(kept);
  }
}
