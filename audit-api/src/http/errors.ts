// Every failure leaves as { "error": { "code", "message", "field"? } } with its status; never a stack.
// Client mistakes are ApiErrors; an unreachable database is a 503 the client may retry; the rest is a
// 500 whose details go to the log, with the request id to find them.
import type { Middleware } from 'koa';
import type { Logger } from 'winston';
import { ApiError } from '../domain/errors.js';
import { isUnavailable } from '../store/db.js';

export function errorHandler(logger: Logger): Middleware {
  return async (ctx, next) => {
    try {
      await next();
      if (ctx.status === 404 && ctx.body === undefined) throw new ApiError(404, 'not_found', `no route for ${ctx.method} ${ctx.path}`);
    } catch (err) {
      const error = toApiError(err);
      if (error.status >= 500 && error.code === 'internal_error') {
        logger.error('request failed', { err, method: ctx.method, path: ctx.path });
      } else if (error.code === 'database_unavailable') {
        logger.warn('database unavailable', { err: (err as Error).message, path: ctx.path });
        ctx.set('Retry-After', '5');
      }
      ctx.status = error.status;
      ctx.body = { error: { code: error.code, message: error.message, ...(error.field !== undefined ? { field: error.field } : {}) } };
    }
  };
}

export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  if (isUnavailable(err)) return new ApiError(503, 'database_unavailable', 'the audit database is unavailable; retry later');
  // Body parser errors carry a status: raw-body's have a type, @koa/bodyparser's JSON errors are
  // SyntaxErrors with status 400 (and no `expose`).
  const e = err as { status?: number; type?: string; expose?: boolean; message?: string };
  if (e?.type === 'entity.too.large') return new ApiError(413, 'payload_too_large', 'request body too large', 'body');
  if (e?.type === 'entity.parse.failed' || (e?.status === 400 && (e?.expose || err instanceof SyntaxError))) return new ApiError(400, 'invalid_json', 'request body is not valid JSON', 'body');
  if (e?.status === 415) return new ApiError(415, 'unsupported_media_type', 'send JSON with Content-Type: application/json', 'content-type');
  return new ApiError(500, 'internal_error', 'internal error');
}
