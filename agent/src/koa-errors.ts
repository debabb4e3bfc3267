// Records a Koa handler's exception on the HTTP server span. Koa catches errors itself and answers 500,
// so without this the server span says "500" but never says why.
import { SpanStatusCode, context, trace } from '@opentelemetry/api';
import { InstrumentationBase, InstrumentationNodeModuleDefinition, InstrumentationNodeModuleFile } from '@opentelemetry/instrumentation';

type KoaContextProto = { onerror(this: unknown, err: unknown): void };
const kPatched = Symbol.for('lookout.koaOnerrorPatched');

export class KoaErrorInstrumentation extends InstrumentationBase {
  constructor() {
    super('@lookout/agent/koa-errors', '0.1.0', {});
  }

  protected init() {
    const patch = (proto: KoaContextProto & { [kPatched]?: boolean }) => {
      if (proto[kPatched]) return proto;
      const original = proto.onerror;
      proto.onerror = function (this: unknown, err: unknown) {
        if (err != null) recordServerError(err);
        return original.call(this, err);
      };
      proto[kPatched] = true;
      return proto;
    };
    return [
      new InstrumentationNodeModuleDefinition('koa', ['>=2 <4'], undefined, undefined, [
        new InstrumentationNodeModuleFile('koa/lib/context.js', ['>=2 <4'], patch, () => undefined),
      ]),
    ];
  }
}

function recordServerError(err: unknown): void {
  const status = (err as { status?: unknown; statusCode?: unknown }).status ?? (err as { statusCode?: unknown }).statusCode;
  // ctx.throw(404) and friends are answers, not failures of the server.
  if (typeof status === 'number' && status < 500) return;
  const span = trace.getSpan(context.active());
  if (!span || !span.isRecording()) return;
  const error = err instanceof Error ? err : new Error(String(err));
  span.recordException(error);
  span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
}
