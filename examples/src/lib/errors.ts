// Errors as the HTTP API shows them: { "error": { "code", "message", "field"? } } with the right status,
// and never a stack trace to a client. Unexpected errors are logged (with the trace id) and become 500.
import type { Middleware } from 'koa';
import type { Logger } from './logger.js';

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

export function errorHandler(log: Logger): Middleware {
  return async (ctx, next) => {
    try {
      await next();
      // Koa and the router leave these statuses without a body; give them the same error shape.
      if (ctx.status === 404 && ctx.body == null) throw new HttpError(404, 'not_found', `no route for ${ctx.method} ${ctx.path}`);
      if (ctx.status === 405 && ctx.body == null) throw new HttpError(405, 'method_not_allowed', `${ctx.path} does not take ${ctx.method}; it takes ${ctx.response.get('Allow')}`);
    } catch (err) {
      const known = err instanceof HttpError ? err : bodyParserError(err);
      if (!known) log.error('request failed', { err, method: ctx.method, path: ctx.path });
      // Our own 5xx (an upstream down or slow, an injected fault) is logged too: the logs of a failed
      // request must say why it failed.
      else if (known.status >= 500) log.warn(`answered ${known.status} ${known.code}`, { method: ctx.method, path: ctx.path, error_message: known.message });
      const { status, code, message, field } = known ?? new HttpError(500, 'internal', 'internal error; the trace id in the logs has the details');
      ctx.status = status;
      ctx.body = { error: { code, message, ...(field ? { field } : {}) } };
    }
  };
}

/** @koa/bodyparser throws errors with a 4xx status (bad JSON, wrong type, too large). */
function bodyParserError(err: unknown): HttpError | undefined {
  const status = (err as { status?: unknown })?.status;
  if (typeof status !== 'number' || status < 400 || status >= 500) return undefined;
  return new HttpError(status, status === 413 ? 'body_too_large' : 'invalid_body', `request body: ${(err as Error).message}`);
}
