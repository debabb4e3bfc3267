// Loggers the app builds with winston itself: secrets redacted by the shared policy before the app's formats
// and transports see the line, trace_id, span_id, trace_flags and request_id on every line written inside a
// span, and each line as an OTLP log record. Upstream's instrumentation does the last two by
// adding a second transport to every logger, so each line pays winston's stream pipeline twice and the
// transport's module loads at startup. This hooks the logger instead: the record is emitted where the
// logger hands its formatted line to its transports (Logger#push), with upstream's own record mapping.
import { context, logs, trace, INVALID_TRACEID, type Logger } from '@opentelemetry/api';
import { InstrumentationBase } from '@opentelemetry/instrumentation';
// Upstream's mapping from a winston info to a log record (severities, exceptions, attribute values),
// reused as is; only where it is called from differs.
import { emitLogRecord } from '@opentelemetry/winston-transport/build/src/utils.js';
import { onModuleLoad } from './module-hook.js';
import { redactionPolicy } from './redact.js';
import { agentState } from './state.js';
import { AGENT_VERSION } from './version.js';

/** Set on loggers from createLogger(): they correlate and emit their records themselves. */
export const OWN_RECORDS = Symbol.for('lookout.logger.ownRecords');
// Where upstream's mapping reads the context of the log call from.
const CONTEXT = Symbol.for('opentelemetry.js.contrib.winston.context');
const LEVEL = Symbol.for('level');
// winston's (triple-beam's) symbol for the arguments of a log call that formats.splat() interpolates.
const SPLAT = Symbol.for('splat');

export type WinstonInstrumentationConfig =
  /** Called with each correlated record (adds request_id). */
  | { logHook(record: Record<string, unknown>): void }
  /**
   * Redact lines only, leaving correlation and records to upstream's instrumentation, whose transport then
   * sees lines already redacted (LOOKOUT_UPSTREAM_INSTRUMENTATIONS=winston).
   */
  | { redactOnly: true };

type Info = Record<string | symbol, unknown>;
interface WinstonLogger {
  level: string;
  levels: Record<string, number>;
  [OWN_RECORDS]?: true;
  write(info: unknown, ...rest: unknown[]): boolean;
  push(chunk: unknown, encoding?: unknown): boolean;
}
interface WinstonModule {
  Logger?: { prototype: WinstonLogger };
}
const kPatched = Symbol.for('lookout.winstonLoggerPatched');

export class WinstonInstrumentation extends InstrumentationBase {
  private hooked = false;
  private otelLogger: Logger | undefined;
  private readonly policy = redactionPolicy();

  constructor(private readonly hooks: WinstonInstrumentationConfig) {
    super('@lookout/agent/winston', AGENT_VERSION, { enabled: false });
  }

  protected init() {
    return []; // no loader hook: module-hook.ts hands us winston as it loads
  }

  override enable(): void {
    if (this.hooked) return;
    this.hooked = true;
    onModuleLoad('winston', 'lib/winston.js', true, (winston) => {
      const proto = (winston as WinstonModule).Logger?.prototype;
      if (proto && typeof proto.write === 'function' && typeof proto.push === 'function') this.patch(proto);
    });
  }

  // The patches do nothing once the agent stops exporting; there is nothing to undo.
  override disable(): void {}

  private patch(proto: WinstonLogger & { [kPatched]?: true }): void {
    if (proto[kPatched]) return;
    proto[kPatched] = true;
    const instrumentation = this;
    const hooks = this.hooks;
    const write = proto.write;
    // At the log call, before any format runs: a redacted copy in place of the app's info, then the context
    // the call ran in and the correlation fields the line itself carries. Loggers from createLogger() redact
    // in their own format.
    proto.write = function (this: WinstonLogger, info: unknown, ...rest: unknown[]) {
      if (info === null || typeof info !== 'object' || this[OWN_RECORDS] === true) return write.call(this, info, ...rest);
      const clean = instrumentation.redact(info as Info);
      if (!('redactOnly' in hooks)) instrumentation.correlate(clean, hooks.logHook);
      return write.call(this, clean, ...rest);
    };
    if ('redactOnly' in hooks) return;
    const push = proto.push;
    // The formatted line on its way to the transports: the one place every line passes exactly once.
    proto.push = function (this: WinstonLogger, chunk: unknown, encoding?: unknown) {
      if (chunk !== null && typeof chunk === 'object' && this[OWN_RECORDS] !== true) instrumentation.emit(this, chunk as Info);
      return push.call(this, chunk, encoding);
    };
  }

  /**
   * The info as formats and transports will see it, redacted, as a copy: for logger.info(obj) winston hands
   * over the app's own object, and meta objects are merged into the info shallowly, so everything nested
   * still belongs to the app. The splat arguments are copied too: format.splat() merges them back in.
   */
  private redact(info: Info): Info {
    const clean = this.policy.redactValue(info);
    for (const symbol of Object.getOwnPropertySymbols(info)) clean[symbol] = symbol === SPLAT ? this.policy.redactValue(info[symbol]) : info[symbol];
    return clean;
  }

  private correlate(info: Info, logHook: (record: Record<string, unknown>) => void): void {
    const ctx = context.active();
    info[CONTEXT] = ctx;
    const spanContext = trace.getSpanContext(ctx);
    if (spanContext === undefined || spanContext.traceId === INVALID_TRACEID) return;
    info.trace_id = spanContext.traceId;
    info.span_id = spanContext.spanId;
    info.trace_flags = `0${spanContext.traceFlags.toString(16)}`;
    logHook(info as Record<string, unknown>);
  }

  private emit(logger: WinstonLogger, info: Info): void {
    if (!agentState().logsEnabled) return;
    // The level a transport without its own level applies: the logger's.
    const levels = logger.levels;
    const given = levels[info[LEVEL] as string];
    if (given === undefined || levels[logger.level]! < given) return;
    try {
      // The redacting log processor still passes over this record (about 0.6 µs): the app's formats ran
      // after the copy was redacted, and may have added fields of their own (a user's e-mail from its context).
      this.otelLogger ??= logs.getLogger('@lookout/agent/winston', AGENT_VERSION);
      emitLogRecord(info, this.otelLogger as unknown as Parameters<typeof emitLogRecord>[1]);
    } catch {
      // A record that cannot be mapped is lost to OTLP; the line itself still goes to the app's transports.
    }
  }
}
