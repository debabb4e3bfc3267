// x-request-id for every incoming HTTP request: kept when the caller sent a sane one, made otherwise, and
// readable (for spans and log lines) anywhere inside that request. Also the only headers the agent adds to a
// response: the caller's own id echoed, and what LOOKOUT_RESPONSE_HEADERS asks for (an id on every
// response, W3C traceresponse).
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import { subscribe } from 'node:diagnostics_channel';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isSpanContextValid, type Span } from '@opentelemetry/api';
import type { ResponseHeaderName } from './config.js';
import { attachRequestState, requestStateOf, type ServerRequestState } from './request-state.js';

export const REQUEST_ID_HEADER = 'x-request-id';
/** W3C Trace Context Level 2: the trace id and the span id of the server span that answered. */
export const TRACERESPONSE_HEADER = 'traceresponse';
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
  return requestStateOf(request)?.requestId;
}

/** Runs `fn` with `requestId` as the current request id (for work that does not start from an HTTP request). */
export function withRequestId<T>(requestId: string, fn: () => T): T {
  return storage.run({ requestId }, fn);
}

/** Called for every incoming request right after its state (with its id) is attached, in the same synchronous turn. */
export type ServerRequestHook = (request: IncomingMessage, response: ServerResponse, state: ServerRequestState) => void;

interface Installed {
  hook: ServerRequestHook | undefined;
  /** LOOKOUT_RESPONSE_HEADERS names x-request-id: every response gets one, made or not. */
  alwaysRequestId: boolean;
  /** LOOKOUT_RESPONSE_HEADERS names traceresponse. */
  traceresponse: boolean;
}
const kInstalled = Symbol.for('lookout.requestIdsInstalled');

/**
 * Subscribes to Node's `http.server.request.start` channel, which fires for every server request
 * before the 'request' event (and so before the app sees it). This is the agent's one subscriber to that
 * channel: the server-span instrumentation registers a hook here instead of subscribing a second time.
 * `responseHeaders` (the config's LOOKOUT_RESPONSE_HEADERS) applies from the next request on.
 */
export function installRequestIds(options?: { responseHeaders: ReadonlySet<ResponseHeaderName> }): Installed {
  const holder = globalThis as typeof globalThis & { [kInstalled]?: Installed };
  const installed = (holder[kInstalled] ??= subscribeRequestStart({ hook: undefined, alwaysRequestId: false, traceresponse: false }));
  if (options) {
    installed.alwaysRequestId = options.responseHeaders.has(REQUEST_ID_HEADER);
    installed.traceresponse = options.responseHeaders.has(TRACERESPONSE_HEADER);
  }
  return installed;
}

function subscribeRequestStart(installed: Installed): Installed {
  subscribe('http.server.request.start', (message) => {
    const { request, response } = message as { request: IncomingMessage; response: ServerResponse };
    const incoming = request.headers[REQUEST_ID_HEADER];
    const kept = typeof incoming === 'string' && REQUEST_ID_PATTERN.test(incoming);
    const requestId = kept ? incoming : randomUUID();
    const state = attachRequestState(request, requestId);
    // An agent must not change what an app sends unless told to: by default the response is left alone
    // unless the caller sent its own id, which goes back as it came.
    const echo = kept || installed.alwaysRequestId;
    if (echo || installed.traceresponse) addHeadersOnWriteHead(response, echo, installed.traceresponse);
    // enterWith, not run: the 'request' event is emitted right after this callback returns, in the same
    // synchronous turn, and everything the handler starts inherits this store.
    storage.enterWith({ requestId });
    installed.hook?.(request, response, state);
  });
  return installed;
}

/** Sets (or, with undefined, clears) the hook that runs for each incoming request after its id is set. */
export function setServerRequestHook(hook: ServerRequestHook | undefined): void {
  installRequestIds().hook = hook;
}

/**
 * Notes the server span that handles `request` (ours, or upstream's through its requestHook), whose ids a
 * traceresponse header carries.
 */
export function setServerSpan(request: IncomingMessage, span: Span): void {
  const state = requestStateOf(request);
  if (state !== undefined) state.span = span;
}

/** `00-<trace id>-<server span id>-<flags>`, or undefined when no valid server span handled the request. */
function traceresponseOf(request: IncomingMessage): string | undefined {
  const spanContext = requestStateOf(request)?.span?.spanContext();
  if (spanContext === undefined || !isSpanContextValid(spanContext)) return undefined;
  // The span's own flags (sampled or not), two hex digits as in traceparent.
  return `00-${spanContext.traceId}-${spanContext.spanId}-${(0x100 | (spanContext.traceFlags & 0xff)).toString(16).slice(1)}`;
}

// getBuiltinModule, not `import 'node:http'`: the ESM facade of node:http reads every export, and one of
// them loads Node's bundled undici (~12 ms of startup) before the app has asked for fetch.
const prototypeWriteHead = process.getBuiltinModule('node:http').ServerResponse.prototype.writeHead;

// Sets the headers when the head is written, not at request start: frameworks (Koa's error handler among
// them) clear all headers before an error response, and the ids matter most on those. A header the app set
// itself is left as it is. The wrapper reads the request through response.req, so for each choice of
// headers one function serves every response whose writeHead is Node's own.
function headerWritingWriteHead(original: ServerResponse['writeHead'], requestId: boolean, traceresponse: boolean): ServerResponse['writeHead'] {
  return function (this: ServerResponse, ...args: unknown[]) {
    if (!this.headersSent) {
      if (requestId && !this.hasHeader(REQUEST_ID_HEADER)) {
        const id = requestIdOf(this.req);
        if (id !== undefined) this.setHeader(REQUEST_ID_HEADER, id);
      }
      if (traceresponse && !this.hasHeader(TRACERESPONSE_HEADER)) {
        const value = traceresponseOf(this.req);
        if (value !== undefined) this.setHeader(TRACERESPONSE_HEADER, value);
      }
    }
    return (original as (...a: unknown[]) => ServerResponse).apply(this, args);
  } as ServerResponse['writeHead'];
}
const sharedWriteHeads = {
  requestId: headerWritingWriteHead(prototypeWriteHead, true, false),
  traceresponse: headerWritingWriteHead(prototypeWriteHead, false, true),
  both: headerWritingWriteHead(prototypeWriteHead, true, true),
};

function addHeadersOnWriteHead(response: ServerResponse, requestId: boolean, traceresponse: boolean): void {
  const shared = requestId ? (traceresponse ? sharedWriteHeads.both : sharedWriteHeads.requestId) : sharedWriteHeads.traceresponse;
  // Someone replaced writeHead on this response already: wrap theirs.
  response.writeHead = response.writeHead === prototypeWriteHead ? shared : headerWritingWriteHead(response.writeHead, requestId, traceresponse);
}
