// Errors as the HTTP API shows them: { "error": { "code", "message", "field"? } } with the right status,
// and never a stack trace to a client. Unexpected errors are logged (with the trace id) and become 500.
// The class and the common codes are the agent's, so every service answers the same failure the same way.
import { bodyParserError, HttpError, unansweredError } from '@lookout/agent';
import { trace } from '@opentelemetry/api';
import type { Middleware } from 'koa';
import type { Logger } from './logger.js';

export { HttpError };

export function errorHandler(log: Logger): Middleware {
  return async (ctx, next) => {
    try {
      await next();
      // Koa and the router leave 404 and 405 without a body; give them the same error shape.
      const unanswered = ctx.body == null ? unansweredError(ctx.status, ctx.method, ctx.path, ctx.response.get('Allow')) : undefined;
      if (unanswered) throw unanswered;
    } catch (err) {
      const known = err instanceof HttpError ? err : (bodyParserError(err) ?? otherClientError(err));
      if (!known) log.error('request failed', { err, method: ctx.method, path: ctx.path });
      // Our own 5xx (an upstream down or slow, an injected fault) is logged too: the logs of a failed
      // request must say why it failed.
      else if (known.status >= 500) log.warn(`answered ${known.status} ${known.code}`, { method: ctx.method, path: ctx.path, error_message: known.message });
      const { status, code, message, field } = known ?? HttpError.of('internal_error', 'internal error; the trace id in the logs has the details');
      // A failure this handler answers never reaches the framework, so the agent cannot see it: record it on
      // the request's span, as an error tracker's middleware would, so it is fingerprinted and counted as an
      // issue (lookout.errors, the Errors dashboard). A 4xx is the caller's mistake, not an issue.
      if (status >= 500) trace.getActiveSpan()?.recordException(err instanceof Error ? err : String(err));
      ctx.status = status;
      ctx.body = { error: { code, message, ...(field ? { field } : {}) } };
    }
  };
}

/** Any other 4xx the body parser throws (an unsupported charset, say) is still the client's mistake. */
function otherClientError(err: unknown): HttpError | undefined {
  const status = (err as { status?: unknown })?.status;
  if (typeof status !== 'number' || status < 400 || status >= 500) return undefined;
  return new HttpError(status, 'invalid_body', `request body: ${(err as Error).message}`);
}
