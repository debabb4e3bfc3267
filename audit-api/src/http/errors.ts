// Every failure leaves as { "error": { "code", "message", "field"? } } with its status; never a stack.
// Client mistakes are ApiErrors; an unreachable database is a 503 the client may retry; the rest is a
// 500 whose details go to the log, with the request id to find them. The common codes (bad JSON, too
// large, no route, wrong method) are the agent's, shared with every other service.
import { bodyParserError, unansweredError } from '@lookout/agent';
import type { Middleware } from 'koa';
import type { Logger } from 'winston';
import { ApiError } from '../domain/errors.js';
import { isUnavailable } from '../store/db.js';

export function errorHandler(logger: Logger): Middleware {
  return async (ctx, next) => {
    try {
      await next();
      // Koa and the routers leave 404 and 405 without a body.
      const unanswered = ctx.body === undefined ? unansweredError(ctx.status, ctx.method, ctx.path, ctx.response.get('Allow')) : undefined;
      if (unanswered) throw unanswered;
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
  return bodyParserError(err) ?? ApiError.of('internal_error', 'internal error');
}
