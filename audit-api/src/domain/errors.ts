// The one error type every layer throws for a client's mistake; the HTTP layer turns it into
// { "error": { "code", "message", "field" } } with its status, and never shows a stack.
export class ApiError extends Error {
  constructor(
    readonly status: number,
    /** Machine-readable, snake_case: invalid_field, unknown_action, invalid_cursor, … */
    readonly code: string,
    message: string,
    /** The offending field as a path: `action`, `metadata.reason`, `events[3].actor.id`, `from`. */
    readonly field?: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}
