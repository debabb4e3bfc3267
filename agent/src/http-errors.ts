// The error vocabulary every Lookout HTTP service speaks, the audit API and the examples alike: one class,
// one code per failure every service can meet, and the mapping of body-parser errors onto those codes.
// It lives in the agent because every service already imports it, and its audit client reads these codes.

/** The failures any service can answer with; the audit API's codes, documented in docs/audit-api.md. */
export const HTTP_ERROR_STATUS = {
  invalid_json: 400,
  not_found: 404,
  method_not_allowed: 405,
  payload_too_large: 413,
  unsupported_media_type: 415,
  internal_error: 500,
} as const;

export type CommonErrorCode = keyof typeof HTTP_ERROR_STATUS;

/** Leaves a service as { "error": { "code", "message", "field"? } } with its status, never with a stack. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    /** Machine-readable, snake_case: one of HTTP_ERROR_STATUS's or a service's own (invalid_cursor, run_not_found, …). */
    readonly code: string,
    message: string,
    /** The offending field as a path: `action`, `metadata.reason`, `events[3].actor.id`, `from`. */
    readonly field?: string,
  ) {
    super(message);
    this.name = 'HttpError';
  }

  /** One of the common failures, with the status that goes with its code. */
  static of(code: CommonErrorCode, message: string, field?: string): HttpError {
    return new HttpError(HTTP_ERROR_STATUS[code], code, message, field);
  }
}

/**
 * The error a JSON body parser threw, as the common code, or undefined when it is not one. raw-body's errors
 * carry a `type`; @koa/bodyparser's JSON errors are SyntaxErrors with status 400 (and no `expose`).
 */
export function bodyParserError(err: unknown): HttpError | undefined {
  const e = err as { status?: number; type?: string; expose?: boolean } | undefined;
  if (e?.type === 'entity.too.large' || e?.status === 413) return HttpError.of('payload_too_large', 'request body too large', 'body');
  if (e?.type === 'entity.parse.failed' || (e?.status === 400 && (e.expose || err instanceof SyntaxError))) return HttpError.of('invalid_json', 'request body is not valid JSON', 'body');
  if (e?.status === 415) return HttpError.of('unsupported_media_type', 'send JSON with Content-Type: application/json', 'content-type');
  return undefined;
}

/**
 * The error for a request no route answered: Koa and @koa/router leave 404 and 405 without a body, and they
 * get the same envelope as every other failure. `allow` is the Allow header the router set for a 405.
 */
export function unansweredError(status: number, method: string, path: string, allow: string): HttpError | undefined {
  if (status === 404) return HttpError.of('not_found', `no route for ${method} ${path}`);
  if (status === 405) return HttpError.of('method_not_allowed', `${path} does not take ${method}; it takes ${allow}`);
  return undefined;
}
