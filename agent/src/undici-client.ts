// Client spans and http.client.request.duration for fetch() and undici, from undici's diagnostics channels.
// Node's bundled undici behind global fetch publishes them, as does the undici package when an app has its own.
// Same channels as @opentelemetry/instrumentation-undici, without its new URL() and header Map per request.
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

const kState = Symbol('lookout.undiciClientSpan');

/** What we read of undici's internal Request (lib/core/request.js), the same object on every channel. */
interface UndiciRequest {
  /** "http://host:port", a URL object in some undici versions. */
  origin: string | URL;
  method: string;
  path: string;
  /** A flat [name, value, name, value…] array (undici ≥ 6), or "name: value\r\n" text before. */
  headers: Array<string | string[]> | string;
  addHeader?(name: string, value: string): unknown;
  [kState]?: ClientSpanState | undefined;
}

interface UndiciSocket {
  remoteAddress?: string;
  remotePort?: number;
  alpnProtocol?: string | false;
}

const headerSetter: TextMapSetter<UndiciRequest> = {
  set(request, key, value) {
    // Replace a traceparent (or baggage) the app set itself rather than send two: a second traceparent
    // makes the header invalid for the next service. (Upstream undici appends; upstream http replaces.)
    const headers = request.headers;
    if (Array.isArray(headers)) {
      const at = headerIndex(headers, key);
      if (at !== -1) {
        headers[at + 1] = value;
        return;
      }
    }
    if (typeof request.addHeader === 'function') request.addHeader(key, value);
    else if (typeof headers === 'string') request.headers = `${headers}${key}: ${value}\r\n`;
  },
};

export class UndiciClientInstrumentation extends ClientInstrumentation {
  constructor() {
    super('@lookout/agent/undici-client', AGENT_VERSION);
  }

  protected channels() {
    return {
      'undici:request:create': this.onCreate,
      'undici:client:sendHeaders': this.onSendHeaders,
      'undici:request:headers': this.onHeaders,
      'undici:request:trailers': this.onDone,
      'undici:request:error': this.onError,
    };
  }

  private readonly onCreate = (message: unknown): void => {
    const request = (message as { request: UndiciRequest }).request;
    // A proxy tunnel, not a request of the app's (upstream skips it too).
    if (request.method === 'CONNECT') return;
    let origin = typeof request.origin === 'string' ? request.origin : request.origin.origin;
    const schemeEnd = origin.indexOf('://');
    if (schemeEnd === -1) return;
    const scheme = origin.slice(0, schemeEnd);
    let authority = origin.slice(schemeEnd + 3);
    if (authority.endsWith('/')) authority = authority.slice(0, -1);
    // Credentials never reach undici's origin today; should one, url.full gets the conventions' placeholder.
    const at = authority.lastIndexOf('@');
    if (at !== -1) {
      authority = authority.slice(at + 1);
      origin = `${scheme}://REDACTED:REDACTED@${authority}`;
    } else if (origin.length !== schemeEnd + 3 + authority.length) {
      origin = `${scheme}://${authority}`;
    }
    const close = authority.lastIndexOf(']');
    const colon = authority.lastIndexOf(':');
    const hasPort = colon > close;
    const host = hasPort ? authority.slice(0, colon) : authority;
    // server.address without IPv6 brackets, as upstream http has it (upstream undici keeps them).
    const address = host.charCodeAt(0) === 91 /* [ */ ? host.slice(1, -1) : host;
    const port = hasPort ? Number(authority.slice(colon + 1)) : scheme === 'https' ? 443 : scheme === 'http' ? 80 : undefined;
    const method = normalizeMethod(request.method);

    const metric: Attributes = { 'http.request.method': method, 'server.address': address, 'url.scheme': scheme };
    if (port !== undefined) metric['server.port'] = port;
    const state = newClientSpanState(metric);
    const parent = context.active();
    if (!isTracingSuppressed(parent)) {
      const path = request.path;
      const absolute = path.charCodeAt(0) !== 47; // an absolute-form target (through a proxy)
      const queryAt = path.indexOf('?');
      // Upstream undici's keys, two of them semconv-correct where it is not: http.request.method_original
      // only when it differs from http.request.method (upstream: always), and url.query without its "?"
      // and absent when empty (upstream: "?a=1", or "").
      const attributes: Attributes = {
        'http.request.method': method,
        'url.full': absolute ? redactQuery(path, queryAt) : `${origin}${redactQuery(path, queryAt)}`,
        'url.path': queryAt === -1 ? path : path.slice(0, queryAt),
        'url.scheme': scheme,
        'server.address': address,
      };
      if (method !== request.method) attributes['http.request.method_original'] = request.method;
      if (queryAt !== -1 && queryAt < path.length - 1) attributes['url.query'] = redactQuery(path.slice(queryAt), 0).slice(1);
      if (port !== undefined) attributes['server.port'] = port;
      const userAgent = userAgentOf(request.headers);
      if (userAgent !== undefined) attributes['user_agent.original'] = userAgent;
      this.startClientSpan(state, parent, method, attributes, request, headerSetter);
    }
    request[kState] = state;
  };

  private readonly onSendHeaders = (message: unknown): void => {
    const { request, socket } = message as { request: UndiciRequest; socket: UndiciSocket };
    const state = request[kState];
    if (!state) return;
    const version = socket.alpnProtocol === 'h2' ? '2' : '1.1';
    state.metric['network.protocol.version'] = version;
    state.span?.setAttributes({
      'network.peer.address': socket.remoteAddress,
      'network.peer.port': socket.remotePort,
      'network.protocol.version': version,
    });
  };

  private readonly onHeaders = (message: unknown): void => {
    const { request, response } = message as { request: UndiciRequest; response: { statusCode: number } };
    const state = request[kState];
    if (state) setResponseStatus(state, response.statusCode, {});
  };

  private readonly onDone = (message: unknown): void => {
    const request = (message as { request: UndiciRequest }).request;
    const state = request[kState];
    if (!state) return;
    request[kState] = undefined;
    this.endClientSpan(state);
  };

  private readonly onError = (message: unknown): void => {
    const { request, error } = message as { request: UndiciRequest; error: unknown };
    const state = request[kState];
    if (!state) return;
    request[kState] = undefined;
    // Upstream undici ends an aborted request's span as if it had succeeded; an abort is a failed request
    // for the conventions, and upstream http records it as one: ERROR, error.type AbortError, the exception.
    failClientSpan(state, error);
    this.endClientSpan(state);
  };
}

/** Index of a header's name in undici's flat array, compared case-insensitively (fetch sends lower case). */
function headerIndex(headers: Array<string | string[]>, lowerName: string): number {
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i];
    if (typeof name === 'string' && name.length === lowerName.length && (name === lowerName || name.toLowerCase() === lowerName)) return i;
  }
  return -1;
}

/** The last user-agent value, as upstream reads it (fetch adds "node" unless the app set one). */
function userAgentOf(headers: UndiciRequest['headers']): string | undefined {
  if (typeof headers === 'string') return /(?:^|\r\n)user-agent:[ \t]*([^\r\n]*)/i.exec(headers)?.[1];
  let value: string | string[] | undefined;
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i];
    if (typeof name === 'string' && name.length === 10 && name.toLowerCase() === 'user-agent') value = headers[i + 1];
  }
  return Array.isArray(value) ? value[value.length - 1] : value;
}
