// The agent's one state object per incoming HTTP request: made by the request-start subscriber
// (request-id.ts) with the request's id, then filled by the server-span instrumentation (http-server.ts)
// in the same synchronous turn, and read when the head is written and when the response closes.
import type { IncomingMessage } from 'node:http';
import type { Span } from '@opentelemetry/api';
import type { ServerRequestMetadata } from './server-request.js';

// Symbol.for: the preload bundle and the app's `import '@lookout/agent'` are separate copies of this module,
// and both read the state the preload's subscriber writes.
const kState = Symbol.for('lookout.serverRequestState');

/** Every field exists from construction, so all requests share one object shape. */
export class ServerRequestState {
  /** The server span that answers (ours, or upstream's through its requestHook); a traceresponse carries its ids. */
  span: Span | undefined = undefined;
  /** Our span's route holder while it is open (the frameworks' hooks write the route into it); undefined once ended. */
  open: ServerRequestMetadata | undefined = undefined;
  method = '';
  /** The span name before the route is known: the method, or "HTTP" for unknown methods. */
  name = '';
  scheme = '';
  /** performance.now() at request start. */
  start = 0;

  constructor(readonly requestId: string) {}
}

type StatefulRequest = IncomingMessage & { [kState]?: ServerRequestState };

export function attachRequestState(request: IncomingMessage, requestId: string): ServerRequestState {
  return ((request as StatefulRequest)[kState] = new ServerRequestState(requestId));
}

/** The state of a request the agent has seen (undefined before its request-start event). */
export function requestStateOf(request: IncomingMessage): ServerRequestState | undefined {
  return (request as StatefulRequest)[kState];
}
