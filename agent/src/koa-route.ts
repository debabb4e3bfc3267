// Koa without a span per middleware: one hook per request that puts the matched route (@koa/router's
// ctx._matchedRoute) on the HTTP server span and metric, and records a handler's exception on it.
// Koa catches errors itself and answers 500, so without this the server span says "500" but never why.
import { SpanStatusCode, context, type Span } from '@opentelemetry/api';
import { RPCType, getRPCMetadata } from '@opentelemetry/core';
import { InstrumentationBase } from '@opentelemetry/instrumentation';
import { onModuleLoad } from './module-hook.js';

type Middleware = (ctx: KoaContext) => Promise<unknown>;
interface KoaContext {
  _matchedRoute?: string | RegExp;
}
interface KoaApplication {
  prototype: { handleRequest(ctx: KoaContext, fn: Middleware): Promise<unknown>; [kPatched]?: true };
}
const kPatched = Symbol.for('lookout.koaHandleRequestPatched');

export class KoaRouteInstrumentation extends InstrumentationBase {
  private hooked = false;

  constructor() {
    // Not enabled from the constructor: registerInstrumentations enables it once providers are set.
    super('@lookout/agent/koa', '0.1.0', { enabled: false });
  }

  protected init() {
    return []; // no loader hook: module-hook.ts patches Koa's class as it loads
  }

  override enable(): void {
    if (this.hooked) return;
    this.hooked = true;
    // Koa 2 and 3 alike: lib/application.js exports the Application class (Koa 3's ESM entry re-exports it).
    onModuleLoad('koa', 'lib/application.js', true, (Application) => {
      if (typeof (Application as KoaApplication).prototype?.handleRequest === 'function') patchHandleRequest(Application as KoaApplication);
    });
  }

  // The patch reads the active server span and does nothing without one, so there is nothing to undo.
  override disable(): void {}
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
