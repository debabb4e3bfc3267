// Koa without a span per middleware: one hook per request that puts the matched route (@koa/router's
// ctx._matchedRoute) on the HTTP server span and metric, and records a handler's exception on it.
// Koa catches errors itself and answers 500, so without this the server span says "500" but never why.
import { SpanStatusCode, context, type Span } from '@opentelemetry/api';
import { RPCType, getRPCMetadata } from '@opentelemetry/core';
import { InstrumentationBase, InstrumentationNodeModuleDefinition } from '@opentelemetry/instrumentation';

type Middleware = (ctx: KoaContext) => Promise<unknown>;
interface KoaContext {
  _matchedRoute?: string | RegExp;
}
interface KoaApplication {
  prototype: { handleRequest(ctx: KoaContext, fn: Middleware): Promise<unknown>; [kPatched]?: true };
}
const kPatched = Symbol.for('lookout.koaHandleRequestPatched');

export class KoaRouteInstrumentation extends InstrumentationBase {
  constructor() {
    super('@lookout/agent/koa', '0.1.0', {});
  }

  protected init() {
    return new InstrumentationNodeModuleDefinition('koa', ['>=2 <4'], (exports: KoaApplication | { default: KoaApplication }) => {
      // CommonJS hands us the Application class, the ESM hook its module namespace; both share one class.
      const Application = 'default' in exports ? exports.default : exports;
      patchHandleRequest(Application);
      return exports;
    });
  }
}

function patchHandleRequest(Application: KoaApplication): void {
  const proto = Application.prototype;
  if (proto[kPatched]) return;
  const original = proto.handleRequest;
  proto.handleRequest = function (ctx, fnMiddleware) {
    const rpc = getRPCMetadata(context.active());
    if (rpc?.type !== RPCType.HTTP) return original.call(this, ctx, fnMiddleware);
    const traced: Middleware = (c) =>
      fnMiddleware(c).then(
        (value) => {
          if (c._matchedRoute !== undefined) rpc.route = String(c._matchedRoute);
          return value;
        },
        (err: unknown) => {
          if (c._matchedRoute !== undefined) rpc.route = String(c._matchedRoute);
          recordServerError(rpc.span, err);
          throw err;
        },
      );
    return original.call(this, ctx, traced);
  };
  proto[kPatched] = true;
}

function recordServerError(span: Span, err: unknown): void {
  const status = (err as { status?: unknown } | null)?.status ?? (err as { statusCode?: unknown } | null)?.statusCode;
  // ctx.throw(404) and friends are answers, not failures of the server.
  if (typeof status === 'number' && status < 500) return;
  if (!span.isRecording()) return;
  const error = err instanceof Error ? err : new Error(String(err));
  span.recordException(error);
  span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
}
