// Client spans and http.client.request.duration for outgoing node:http / node:https requests, from diagnostics channels.
// Replaces the client half of @opentelemetry/instrumentation-http, which wraps http.request and, on every
// request, re-parses the URL with new URL(), copies the options and headers and binds callbacks and emitters.
//
// Node publishes http.client.request.created (nodejs/node#55586) at the end of the ClientRequest constructor,
// before any header is written: the span starts there and traceparent goes in with setHeader.
// http.client.request.start comes from _finish, once the head is on the socket: too late to inject.
// http.client.response.finish is the response head, not its end: the span ends at the request's 'close'.
import type { ClientRequest, IncomingMessage } from 'node:http';
import { context, type Attributes, type TextMapSetter } from '@opentelemetry/api';
import { isTracingSuppressed } from '@opentelemetry/core';
import {
  ClientInstrumentation,
  failClientSpan,
  newClientSpanState,
  normalizeMethod,
  redactQuery,
  setResponseStatus,
  type ClientSpanState,
} from './client-span.js';
import { AGENT_VERSION } from './version.js';

const kState = Symbol('lookout.httpClientSpan');

type TracedRequest = ClientRequest & {
  [kState]?: ClientSpanState | undefined;
  /** Set by Node from options.hostname || options.host: the host it connects to, IPv6 without brackets. */
  host: string;
  /** "http:" or "https:". */
  protocol: string;
  agent?: { defaultPort?: number } | null;
  /** The response, once its head arrived. */
  res: IncomingMessage | null;
};

const headerSetter: TextMapSetter<ClientRequest> = {
  set(request, key, value) {
    request.setHeader(key, value);
  },
};

export class HttpClientInstrumentation extends ClientInstrumentation {
  /** The 'close' listener every request shares: `this` is the request, so no closure per request. */
  private readonly onClose: (this: TracedRequest) => void;

  constructor() {
    super('@lookout/agent/http-client', AGENT_VERSION);
    const instrumentation = this;
    this.onClose = function (this: TracedRequest) {
      instrumentation.end(this);
    };
  }

  protected channels() {
    return {
      'http.client.request.created': this.onCreated,
      'http.client.response.finish': this.onResponse,
      'http.client.request.error': this.onError,
    };
  }

  private readonly onCreated = (message: unknown): void => {
    const request = (message as { request: TracedRequest }).request;
    const https = request.protocol === 'https:';
    const defaultPort = request.agent?.defaultPort ?? (https ? 443 : 80);
    const address = request.host;
    // "host", "host:port" or "[v6]:port", as Node builds it for the Host header: the port only when not the default.
    const authority = authorityOf(request);
    const port = authority === undefined ? defaultPort : portIn(authority, defaultPort);
    // Node has already upper-cased it: only methods it does not know are left to name.
    const method = normalizeMethod(request.method);
    const state = newClientSpanState({
      'http.request.method': method,
      'server.address': address,
      'server.port': port,
      // Opt-in for the client metric in the conventions, and recorded by upstream undici but not upstream http:
      // ours records it for both, so the same call through fetch or http lands in the same series.
      'url.scheme': https ? 'https' : 'http',
    });
    const parent = context.active();
    if (!isTracingSuppressed(parent)) {
      const path = request.path;
      // A proxied request has its path rewritten to the absolute URL already.
      const target = isAbsolute(path) ? path : `${https ? 'https' : 'http'}://${authority ?? hostWithPort(address, port, defaultPort)}${path}`;
      // Same keys as upstream instrumentation-http. Credentials from the URL never reach the ClientRequest
      // (Node turns them into an Authorization header), so url.full has no user:password@ to redact; upstream
      // shows "REDACTED:REDACTED@" there.
      const attributes: Attributes = {
        'http.request.method': method,
        'server.address': address,
        'server.port': port,
        'url.full': redactQuery(target, target.indexOf('?')),
      };
      if (method === '_OTHER') attributes['http.request.method_original'] = request.method;
      const userAgent = request.getHeader('user-agent');
      if (userAgent !== undefined) attributes['user_agent.original'] = userAgent as string | string[];
      // An array of headers or an Expect header makes Node write the head in the constructor: nothing can be
      // added any more, and setHeader would throw into the app.
      this.startClientSpan(state, parent, method, attributes, request, request.headersSent ? undefined : headerSetter);
    }
    request[kState] = state;
    // 'close' comes last in every outcome: after the response body ended, after an error, or when the
    // socket went away mid-response.
    request.on('close', this.onClose);
  };

  private readonly onResponse = (message: unknown): void => {
    const { request, response } = message as { request: TracedRequest; response: IncomingMessage };
    const state = request[kState];
    if (!state) return;
    state.metric['network.protocol.version'] = response.httpVersion;
    const attributes: Attributes = {};
    if (state.span) {
      const socket = response.socket;
      if (socket) {
        attributes['network.peer.address'] = socket.remoteAddress;
        attributes['network.peer.port'] = socket.remotePort;
      }
      attributes['network.protocol.version'] = response.httpVersion;
    }
    setResponseStatus(state, response.statusCode ?? 0, attributes);
  };

  private readonly onError = (message: unknown): void => {
    const { request, error } = message as { request: TracedRequest; error: unknown };
    const state = request[kState];
    if (!state) return;
    request[kState] = undefined;
    failClientSpan(state, error);
    this.endClientSpan(state);
  };

  /** The request closed: the span ends, as a failure if the response was cut off mid-body. */
  private end(request: TracedRequest): void {
    const state = request[kState];
    if (!state) return;
    request[kState] = undefined;
    const response = request.res;
    // Node destroys an incomplete response with ECONNRESET "aborted" just before this 'close'; upstream
    // ends the span here without an error.
    if (response?.errored && !response.complete) failClientSpan(state, response.errored);
    this.endClientSpan(state);
  }
}

// Node keeps the request's authority (the Host header's value before any user override) under a private
// symbol; found once. Older Node versions have none: the Host header is the fallback.
let kAuthority: symbol | null | undefined;

function authorityOf(request: ClientRequest): string | undefined {
  if (kAuthority === undefined) kAuthority = Object.getOwnPropertySymbols(request).find((s) => s.description === 'kAuthority') ?? null;
  const value = kAuthority ? (request as unknown as Record<symbol, unknown>)[kAuthority] : request.getHeader('host');
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** The port in "host:port" or "[v6]:port", else the default. */
function portIn(authority: string, defaultPort: number): number {
  const colon = authority.lastIndexOf(':');
  if (colon <= authority.lastIndexOf(']')) return defaultPort;
  const port = Number(authority.slice(colon + 1));
  return Number.isInteger(port) && port > 0 ? port : defaultPort;
}

function isAbsolute(path: string): boolean {
  return path.charCodeAt(0) !== 47 /* / */ && (path.startsWith('http://') || path.startsWith('https://'));
}

function hostWithPort(host: string, port: number, defaultPort: number): string {
  const bracketed = host.includes(':') ? `[${host}]` : host;
  return port === defaultPort ? bracketed : `${bracketed}:${port}`;
}
