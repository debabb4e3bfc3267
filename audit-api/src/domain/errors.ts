// The one error type every layer throws for a client's mistake: the agent's HttpError, which every Lookout
// service shares, under the name the audit API's layers have always used. The HTTP layer turns it into
// { "error": { "code", "message", "field" } } with its status, and never shows a stack.
export { HttpError as ApiError } from '@lookout/agent';
