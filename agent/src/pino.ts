// Loggers the app builds with pino (its own, child loggers, pino-http's, koa-pino-logger's, Fastify's):
// secrets redacted by the shared policy before pino serializes the line, trace_id, span_id, trace_flags and
// request_id on every line written inside a request, and each line written as an OTLP log record.
// Upstream's instrumentation (LOOKOUT_UPSTREAM_INSTRUMENTATIONS=pino) wraps every logger's stream in a
// pino.multistream with a second Writable stream that parses each line again; this wraps the one method
// every line passes through, once per copy of pino, and maps the line it returns.
// pino's `tracing:pino_asJson` diagnostics channel is not used: a subscriber sees the arguments and the
// finished line but cannot change them, so it could neither add the correlation fields nor redact.
import { context, logs, SeverityNumber, trace, INVALID_TRACEID, type AnyValue, type Attributes, type Context, type Logger } from '@opentelemetry/api';
import { InstrumentationBase } from '@opentelemetry/instrumentation';
import { onModuleLoad } from './module-hook.js';
import { redactionPolicy, REDACTED, type RedactionPolicy } from './redact.js';
import { agentState } from './state.js';
import { AGENT_VERSION } from './version.js';

export interface PinoInstrumentationConfig {
  /** The id of the request being handled, if any (request-id.ts). */
  requestId(): string | undefined;
  /**
   * Redact lines only, leaving correlation and records to upstream's instrumentation, which then parses
   * lines already redacted (LOOKOUT_UPSTREAM_INSTRUMENTATIONS=pino).
   */
  redactOnly?: boolean;
}

type Fields = Record<string, unknown>;
type Serializers = Record<string, unknown>;
type AsJson = (this: PinoLogger, obj: Fields, msg: unknown, level: number, time: string) => string;

interface PinoLogger {
  levels: { labels: Record<number, string> };
  [key: symbol]: unknown;
}

/** What a pino copy exports, as far as we use it (pino ≥ 5.14, like upstream's instrumentation). */
interface PinoModule {
  (options: object, stream: { write(line: string): void }): PinoLogger;
  symbols: Record<'asJsonSym' | 'serializersSym' | 'messageKeySym' | 'errorKeySym' | 'timeSym', symbol>;
  stdTimeFunctions: { unixTime: unknown };
}

interface PinoPrototype {
  child(this: PinoLogger, bindings: unknown, options?: unknown): PinoLogger;
  setBindings(this: PinoLogger, bindings: unknown): void;
  [key: symbol]: unknown;
}

/** Per copy of pino: where its loggers keep what the line is built from. */
interface PinoSymbols {
  serializers: symbol;
  messageKey: symbol;
  errorKey: symbol;
  time: symbol;
  unixTime: unknown;
}

const kPatched = Symbol.for('lookout.pinoPatched');
// Serializer maps whose functions already redact what they return, and those functions themselves (a child
// logger given its own serializers copies its parent's, already wrapped, into a new map).
const redactingMaps = new WeakSet<object>();
const redactingSerializers = new WeakSet<object>();
// "01" for sampled, "00" otherwise: the W3C rendering of the flags byte, one string per value.
const FLAGS = Array.from({ length: 256 }, (_, flags) => flags.toString(16).padStart(2, '0'));

export class PinoInstrumentation extends InstrumentationBase {
  private hooked = false;
  private otelLogger: Logger | undefined;
  private readonly policy: RedactionPolicy = redactionPolicy();

  constructor(private readonly hooks: PinoInstrumentationConfig) {
    super('@lookout/agent/pino', AGENT_VERSION, { enabled: false });
  }

  protected init() {
    return []; // no loader hook: module-hook.ts hands us pino as it loads, required or imported
  }

  override enable(): void {
    if (this.hooked) return;
    this.hooked = true;
    onModuleLoad('pino', 'pino.js', true, (pino) => this.patch(pino as PinoModule));
  }

  // The patches do nothing once the agent stops exporting; there is nothing to undo.
  override disable(): void {}

  private patch(pino: PinoModule): void {
    const s = pino.symbols;
    if (typeof pino !== 'function' || typeof s?.asJsonSym !== 'symbol') return;
    // pino exports no prototype: a logger writing nowhere leads to the one all loggers of this copy share.
    let proto = Object.getPrototypeOf(pino({ level: 'silent', base: null }, { write() {} })) as PinoPrototype | null;
    while (proto !== null && !Object.hasOwn(proto, s.asJsonSym)) proto = Object.getPrototypeOf(proto) as PinoPrototype | null;
    if (proto === null || proto[kPatched] === true || typeof proto[s.asJsonSym] !== 'function') return;
    proto[kPatched] = true;
    const symbols: PinoSymbols = {
      serializers: s.serializersSym,
      messageKey: s.messageKeySym,
      errorKey: s.errorKeySym,
      time: s.timeSym,
      unixTime: pino.stdTimeFunctions.unixTime,
    };
    const instrumentation = this;

    // Every line: the merged fields (after any mixin) and the formatted message, before serialization.
    const asJson = proto[s.asJsonSym] as AsJson;
    proto[s.asJsonSym] = function (this: PinoLogger, obj: Fields, msg: unknown, level: number, time: string) {
      const ctx = context.active();
      const line = asJson.call(this, instrumentation.fields(this, symbols, obj, ctx), typeof msg === 'string' ? instrumentation.policy.redactString(msg) : msg, level, time);
      if (!instrumentation.hooks.redactOnly && agentState().logsEnabled) instrumentation.emit(this, symbols, line, level, ctx);
      return line;
    } satisfies AsJson;

    // Bindings are serialized once, when the child is made: redact them then.
    const child = proto.child;
    if (typeof child === 'function') {
      proto.child = function (this: PinoLogger, bindings: unknown, options?: unknown) {
        return child.call(this, instrumentation.redactedBindings(this, symbols, bindings), options);
      };
    }
    const setBindings = proto.setBindings;
    if (typeof setBindings === 'function') {
      proto.setBindings = function (this: PinoLogger, bindings: unknown) {
        setBindings.call(this, instrumentation.redactedBindings(this, symbols, bindings));
      };
    }
  }

  /** A copy of the line's fields: correlation first (the app's own fields win), then the app's, redacted. */
  private fields(logger: PinoLogger, symbols: PinoSymbols, obj: Fields, ctx: Context): Fields {
    const out: Fields = {};
    if (!this.hooks.redactOnly) {
      const spanContext = trace.getSpanContext(ctx);
      if (spanContext !== undefined && spanContext.traceId !== INVALID_TRACEID) {
        out.trace_id = spanContext.traceId;
        out.span_id = spanContext.spanId;
        out.trace_flags = FLAGS[spanContext.traceFlags & 0xff];
      }
      const requestId = this.hooks.requestId();
      if (requestId !== undefined) out.request_id = requestId;
    }
    return this.redactInto(out, logger, symbols, obj);
  }

  private redactedBindings(logger: PinoLogger, symbols: PinoSymbols, bindings: unknown): unknown {
    return bindings !== null && typeof bindings === 'object' ? this.redactInto({}, logger, symbols, bindings as Fields) : bindings;
  }

  /**
   * Copies the own enumerable fields pino would write into `out`, redacted; the app's objects are left as
   * they are. A field with a serializer (req, res, err, the app's own) is passed on raw: its serializer, made
   * to redact what it returns, turns it into what is written.
   */
  private redactInto(out: Fields, logger: PinoLogger, symbols: PinoSymbols, obj: Fields): Fields {
    const serializers = logger[symbols.serializers] as Serializers | undefined;
    if (serializers !== undefined && !redactingMaps.has(serializers)) this.redactSerializers(serializers);
    const errorKey = logger[symbols.errorKey];
    const policy = this.policy;
    for (const key in obj) {
      if (!Object.hasOwn(obj, key)) continue;
      let value = obj[key];
      if (policy.isSensitiveKey(key)) value = REDACTED;
      else if (typeof value === 'string') value = policy.redactString(value);
      else if (value !== null && typeof value === 'object' && serializers?.[key] === undefined && key !== errorKey) {
        value = policy.redactValue(toJson(value, key));
      }
      out[key] = value;
    }
    return out;
  }

  private redactSerializers(serializers: Serializers): void {
    redactingMaps.add(serializers);
    const policy = this.policy;
    for (const key in serializers) {
      const serialize = serializers[key];
      if (typeof serialize !== 'function' || redactingSerializers.has(serialize)) continue;
      const redacting = (value: unknown) => policy.redactValue((serialize as (v: unknown) => unknown)(value));
      redactingSerializers.add(redacting);
      serializers[key] = redacting;
    }
  }

  /** The line as a record: the message its body, the error its exception.*, the other fields attributes. */
  private emit(logger: PinoLogger, symbols: PinoSymbols, line: string, level: number, ctx: Context): void {
    let parsed: Fields;
    try {
      parsed = JSON.parse(line) as Fields;
    } catch {
      return; // not JSON (a custom stringifier): the line still goes to the app's stream
    }
    const messageKey = logger[symbols.messageKey] as string;
    const errorKey = logger[symbols.errorKey] as string;
    // Not attributes: what the record carries in its own fields, or the resource (process.pid, host.name).
    const {
      [messageKey]: body,
      [errorKey]: err,
      time,
      level: _level,
      pid: _pid,
      hostname: _hostname,
      trace_id: _traceId,
      span_id: _spanId,
      trace_flags: _traceFlags,
      ...attributes
    } = parsed;
    let timestamp = typeof time === 'number' ? (logger[symbols.time] === symbols.unixTime ? time * 1000 : time) : typeof time === 'string' ? Date.parse(time) : NaN;
    if (Number.isNaN(timestamp)) {
      if (time !== undefined) attributes.time = time;
      timestamp = Date.now();
    }
    const exception = exceptionOf(err);
    if (exception === undefined && err !== undefined) attributes[errorKey] = err; // not an error: keep it as it is
    this.otelLogger ??= logs.getLogger('@lookout/agent/pino', AGENT_VERSION);
    this.otelLogger.emit({
      timestamp,
      severityNumber: severityOf(level),
      severityText: logger.levels.labels[level] ?? String(level),
      body: body as AnyValue,
      attributes: attributes as Attributes,
      exception,
      context: ctx,
    });
  }
}

/** What JSON.stringify, and so pino, would write for an object with a toJSON (a URL, a Date, a Decimal). */
function toJson(value: object, key: string): unknown {
  const toJSON = (value as { toJSON?: unknown }).toJSON;
  if (typeof toJSON !== 'function') return value;
  try {
    return (toJSON as (key: string) => unknown).call(value, key);
  } catch {
    return value; // pino's own stringify falls back the same way
  }
}

// pino's levels onto the OpenTelemetry severity ranges (logs data model): 10 trace, 20 debug, 30 info,
// 40 warn, 50 error, 60 fatal; a custom level between two of them takes the lower one's range, one step
// (TRACE2, INFO3…) per 2.5 levels above it.
const STANDARD: ReadonlyArray<[number, SeverityNumber]> = [
  [60, SeverityNumber.FATAL],
  [50, SeverityNumber.ERROR],
  [40, SeverityNumber.WARN],
  [30, SeverityNumber.INFO],
  [20, SeverityNumber.DEBUG],
  [10, SeverityNumber.TRACE],
];

export function severityOf(level: number): SeverityNumber {
  for (const [base, severity] of STANDARD) {
    if (level >= base) return (severity + Math.min(3, Math.floor((level - base) / 2.5))) as SeverityNumber;
  }
  return SeverityNumber.TRACE;
}

/**
 * pino's serialized error ({ type, message, stack }) as the exception the SDK maps to exception.type,
 * exception.message and exception.stacktrace. Its type is the error's class, as the conventions define
 * exception.type, where a `code` would win if the object were passed on whole.
 */
function exceptionOf(err: unknown): { name: string; message: string; stack?: string } | string | undefined {
  if (typeof err === 'string') return err;
  if (err === null || typeof err !== 'object') return undefined;
  const { type, message, stack } = err as Record<string, unknown>;
  if (typeof type !== 'string' || typeof message !== 'string') return undefined;
  return typeof stack === 'string' ? { name: type, message, stack } : { name: type, message };
}
