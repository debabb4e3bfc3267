// What the web-framework hooks (Koa, Express, Fastify, Nest) share: the HTTP server request in progress,
// whose route http-server.ts reads when the response closes, and the exception a framework caught and
// answered itself, recorded on its span (without it the span says "500" but never why).
import type { ServerResponse } from 'node:http';
import { SpanStatusCode, context, type Span } from '@opentelemetry/api';
import { RPCType, getRPCMetadata, type RPCMetadata } from '@opentelemetry/core';

export type ServerRequestMetadata = RPCMetadata & { type: RPCType.HTTP };

/** The server request the active context belongs to (set by http-server.ts), if any. */
export function activeServerRequest(): ServerRequestMetadata | undefined {
  const rpc = getRPCMetadata(context.active());
  return rpc?.type === RPCType.HTTP ? (rpc as ServerRequestMetadata) : undefined;
}

const kPending = Symbol('lookout.pendingServerError');

interface PendingError {
  span: Span;
  error: unknown;
}
type TrackedResponse = ServerResponse & { [kPending]?: PendingError };

/**
 * Records `error` on the server `span` once `response` goes out, if it goes out as a 5xx: a 4xx is an
 * answer, not a failure of the server. The status is only known then, because the framework's error
 * handler chooses it after catching (an app's handler may map a validation error to 400). When several
 * errors are noted for one response (one error handler passing on another), the last one is recorded.
 */
export function recordIfAnswered5xx(span: Span, response: ServerResponse, error: unknown): void {
  if (!span.isRecording()) return;
  if (response.writableFinished) {
    if (response.statusCode >= 500) recordServerError(span, error);
    return;
  }
  const tracked = response as TrackedResponse;
  const pending = tracked[kPending];
  if (pending !== undefined) {
    pending.error = error;
    return;
  }
  tracked[kPending] = { span, error };
  // 'finish' comes before 'close', on which http-server.ts ends the span. Only on the error path.
  response.once('finish', onFinish);
}

function onFinish(this: TrackedResponse): void {
  const pending = this[kPending];
  this[kPending] = undefined;
  if (pending !== undefined && this.statusCode >= 500) recordServerError(pending.span, pending.error);
}

function recordServerError(span: Span, err: unknown): void {
  const error = err instanceof Error ? err : new Error(String(err));
  span.recordException(error);
  span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
}
