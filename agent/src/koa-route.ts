// Koa without a span per middleware: one hook per request that puts the matched route (@koa/router's
// ctx._matchedRoute) on the HTTP server span and metric, and records on it a handler's exception that
// Koa answers with a 5xx.
// Koa catches errors itself and answers 500, so without this the server span says "500" but never why.
import type { ServerResponse } from 'node:http';
import { LoadPatchInstrumentation } from './load-patch.js';
import { activeServerRequest, recordIfAnswered5xx } from './server-request.js';

type Middleware = (ctx: KoaContext) => Promise<unknown>;
interface KoaContext {
  res: ServerResponse;
  _matchedRoute?: string | RegExp;
}
interface KoaApplication {
  prototype: { handleRequest(ctx: KoaContext, fn: Middleware): Promise<unknown>; [kPatched]?: true };
}
const kPatched = Symbol.for('lookout.koaHandleRequestPatched');

export class KoaRouteInstrumentation extends LoadPatchInstrumentation {
  constructor() {
    // Koa 2 and 3 alike: lib/application.js exports the Application class (Koa 3's ESM entry re-exports it).
    super('koa', [
      {
        pkg: 'koa',
        file: 'lib/application.js',
        main: true,
        patch: (Application) => {
          if (typeof (Application as KoaApplication).prototype?.handleRequest === 'function') patchHandleRequest(Application as KoaApplication);
        },
      },
    ]);
  }
}

/**
 * Application#handleRequest is private to Koa (not in its documented API): it is where Koa runs the composed
 * middleware for one request and catches what it throws, in Koa 2 and Koa 3 alike. test/routes.test.ts runs
 * the same app on both, so a Koa release that renames it fails there rather than silently losing routes.
 */
function patchHandleRequest(Application: KoaApplication): void {
  const proto = Application.prototype;
  if (proto[kPatched]) return;
  const original = proto.handleRequest;
  proto.handleRequest = function (ctx, fnMiddleware) {
    const rpc = activeServerRequest();
    if (rpc === undefined) return original.call(this, ctx, fnMiddleware);
    const traced: Middleware = (c) =>
      fnMiddleware(c).then(
        (value) => {
          if (c._matchedRoute !== undefined) rpc.route = String(c._matchedRoute);
          return value;
        },
        (err: unknown) => {
          if (c._matchedRoute !== undefined) rpc.route = String(c._matchedRoute);
          recordIfAnswered5xx(rpc.span, c.res, err);
          throw err;
        },
      );
    return original.call(this, ctx, traced);
  };
  proto[kPatched] = true;
}
