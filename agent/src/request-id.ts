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

const kInstalled = Symbol.for('lookout.requestIdsInstalled');

/**
 * Subscribes to Node's `http.server.request.start` channel, which fires for every server request
 * before the 'request' event (and so before the app and the http instrumentation see it).
 */
export function installRequestIds(): void {
  const flags = globalThis as typeof globalThis & { [kInstalled]?: boolean };
  if (flags[kInstalled]) return;
  flags[kInstalled] = true;
  subscribe('http.server.request.start', (message) => {
    const { request, response } = message as { request: IncomingMessage; response: ServerResponse };
    const incoming = request.headers[REQUEST_ID_HEADER];
    const requestId = typeof incoming === 'string' && REQUEST_ID_PATTERN.test(incoming) ? incoming : randomUUID();
    (request as IncomingMessage & { [kRequestId]?: string })[kRequestId] = requestId;
    echoOnResponse(response, requestId);
    // enterWith, not run: the 'request' event is emitted right after this callback returns, in the same
    // synchronous turn, and everything the handler starts inherits this store.
    storage.enterWith({ requestId });
  });
}

function echoOnResponse(response: ServerResponse, requestId: string): void {
  // Set it when the head is written, not now: frameworks (Koa's error handler among them) clear all
  // headers before an error response, and the id matters most on those.
  const writeHead = response.writeHead;
  response.writeHead = function (this: ServerResponse, ...args: unknown[]) {
    if (!this.headersSent && !this.hasHeader(REQUEST_ID_HEADER)) this.setHeader(REQUEST_ID_HEADER, requestId);
    return (writeHead as (...a: unknown[]) => ServerResponse).apply(this, args);
  } as typeof response.writeHead;
}
