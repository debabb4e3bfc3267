// x-request-id for every incoming HTTP request: kept when the caller sent a sane one, made otherwise,
// echoed on the response and readable (for spans and log lines) anywhere inside that request.
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import { subscribe } from 'node:diagnostics_channel';
import type { IncomingMessage, ServerResponse } from 'node:http';

export const REQUEST_ID_HEADER = 'x-request-id';
const kRequestId = Symbol.for('lookout.requestId');
/**
 * An incoming request id is kept only if it matches this (anything longer, or with other characters, is
 * replaced: it ends up in logs and indexes). The audit API accepts exactly these as an event's request_id.
 */
export const REQUEST_ID_PATTERN = /^[A-Za-z0-9._:@/+=-]{1,128}$/;

interface RequestScope {
  requestId: string;
}

// One store per process, on globalThis: the preload is a bundle with its own copy of this module, and the
// app's `import '@lookout/agent'` must read the store the preload's hook writes.
const kStorage = Symbol.for('lookout.requestScope');
const holder = globalThis as typeof globalThis & { [kStorage]?: AsyncLocalStorage<RequestScope> };
const storage = (holder[kStorage] ??= new AsyncLocalStorage<RequestScope>());

/** The request id of the HTTP request being handled, if any. */
export function currentRequestId(): string | undefined {
  return storage.getStore()?.requestId;
}

/** The request id assigned to an incoming request (undefined before it was seen). */
export function requestIdOf(request: IncomingMessage): string | undefined {
  return (request as IncomingMessage & { [kRequestId]?: string })[kRequestId];
}

/** Runs `fn` with `requestId` as the current request id (for work that does not start from an HTTP request). */
export function withRequestId<T>(requestId: string, fn: () => T): T {
  return storage.run({ requestId }, fn);
}

/** Called for every incoming request right after its id is assigned, in the same synchronous turn. */
export type ServerRequestHook = (request: IncomingMessage, response: ServerResponse, requestId: string) => void;

interface Installed {
  hook: ServerRequestHook | undefined;
}
const kInstalled = Symbol.for('lookout.requestIdsInstalled');

/**
 * Subscribes to Node's `http.server.request.start` channel, which fires for every server request
 * before the 'request' event (and so before the app sees it). This is the agent's one subscriber to that
 * channel: the server-span instrumentation registers a hook here instead of subscribing a second time.
 */
export function installRequestIds(): Installed {
  const holder = globalThis as typeof globalThis & { [kInstalled]?: Installed };
  if (holder[kInstalled]) return holder[kInstalled];
  const installed: Installed = { hook: undefined };
  holder[kInstalled] = installed;
  subscribe('http.server.request.start', (message) => {
    const { request, response } = message as { request: IncomingMessage; response: ServerResponse };
    const incoming = request.headers[REQUEST_ID_HEADER];
    const requestId = typeof incoming === 'string' && REQUEST_ID_PATTERN.test(incoming) ? incoming : randomUUID();
    (request as IncomingMessage & { [kRequestId]?: string })[kRequestId] = requestId;
    echoOnResponse(response);
    // enterWith, not run: the 'request' event is emitted right after this callback returns, in the same
    // synchronous turn, and everything the handler starts inherits this store.
    storage.enterWith({ requestId });
    installed.hook?.(request, response, requestId);
  });
  return installed;
}

/** Sets (or, with undefined, clears) the hook that runs for each incoming request after its id is set. */
export function setServerRequestHook(hook: ServerRequestHook | undefined): void {
  installRequestIds().hook = hook;
}

// getBuiltinModule, not `import 'node:http'`: the ESM facade of node:http reads every export, and one of
// them loads Node's bundled undici (~12 ms of startup) before the app has asked for fetch.
const prototypeWriteHead = process.getBuiltinModule('node:http').ServerResponse.prototype.writeHead;

// Sets the id when the head is written, not at request start: frameworks (Koa's error handler among them)
// clear all headers before an error response, and the id matters most on those. The wrapper finds the id
// through response.req, so one function serves every response whose writeHead is Node's own.
function echoingWriteHead(original: ServerResponse['writeHead']): ServerResponse['writeHead'] {
  return function (this: ServerResponse, ...args: unknown[]) {
    const requestId = requestIdOf(this.req);
    if (requestId !== undefined && !this.headersSent && !this.hasHeader(REQUEST_ID_HEADER)) this.setHeader(REQUEST_ID_HEADER, requestId);
    return (original as (...a: unknown[]) => ServerResponse).apply(this, args);
  } as ServerResponse['writeHead'];
}
const sharedEchoingWriteHead = echoingWriteHead(prototypeWriteHead);

function echoOnResponse(response: ServerResponse): void {
  // Someone replaced writeHead on this response already: wrap theirs.
  response.writeHead = response.writeHead === prototypeWriteHead ? sharedEchoingWriteHead : echoingWriteHead(response.writeHead);
}
