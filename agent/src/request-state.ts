// The agent's one state object per incoming HTTP request: made by the request-start subscriber
// (request-id.ts) with the request's id, then filled by the server-span instrumentation (http-server.ts)
// in the same synchronous turn, and read when the head is written and when the response closes. Also the
// user setUser() names for the request, kept where every span and log record of the request can find it.
import type { IncomingMessage } from 'node:http';
import type { Context, Span } from '@opentelemetry/api';
import { getRPCMetadata, RPCType, type RPCMetadata } from '@opentelemetry/core';
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

export const ENDUSER_ID = 'enduser.id';
// On the request's RPC metadata: the one object per request that its context carries, whichever server span
// made it (ours, or upstream's instrumentation-http), so a log record reaches it from the context it was
// written in. Symbol.for: the library half (setUser) and the preload (the log processor) are separate copies.
const kUser = Symbol.for('lookout.enduser.id');
type UserHolder = RPCMetadata & { [kUser]?: string };

/**
 * Notes `id` as the user of the HTTP server request `ctx` belongs to; returns that request's server span
 * (to carry enduser.id too), or undefined outside a server request.
 */
export function setRequestUser(ctx: Context, id: string): Span | undefined {
  const rpc = getRPCMetadata(ctx) as UserHolder | undefined;
  if (rpc?.type !== RPCType.HTTP) return undefined;
  rpc[kUser] = id;
  return rpc.span;
}

/** The user setUser() named for the request `ctx` belongs to, if any. */
export function requestUserOf(ctx: Context): string | undefined {
  return (getRPCMetadata(ctx) as UserHolder | undefined)?.[kUser];
}
