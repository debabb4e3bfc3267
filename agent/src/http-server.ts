// The HTTP server span and http.server.request.duration, from Node's own diagnostics channel rather than
// by patching http.Server. Measured here, @opentelemetry/instrumentation-http's server side cost ~80 µs of
// CPU per request (URL parsing, event-emitter binding, attributes built twice); this costs a fraction,
// with the same stable semantic conventions. Outgoing requests: http-client.ts and undici-client.ts.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import {
  context,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Histogram,
  type Span,
} from '@opentelemetry/api';
import { RPCType, setRPCMetadata } from '@opentelemetry/core';
import { InstrumentationBase } from '@opentelemetry/instrumentation';
import { setServerRequestHook } from './request-id.js';
import { requestStateOf, type ServerRequestState } from './request-state.js';
import { AGENT_VERSION } from './version.js';

const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH', 'QUERY']);

export class HttpServerInstrumentation extends InstrumentationBase {
  // `declare`: set from the base constructor (through _updateMetricInstruments), which a field
  // initializer would overwrite.
  declare private duration: Histogram;
  private subscribed = false;

  constructor() {
    // Not enabled from the constructor: registerInstrumentations enables it once providers are set.
    super('@lookout/agent/http-server', AGENT_VERSION, { enabled: false });
  }

  protected init() {
    return []; // nothing to patch: Node publishes what we need on diagnostics channels
  }

  protected override _updateMetricInstruments(): void {
    this.duration = this.meter.createHistogram('http.server.request.duration', {
      unit: 's',
      description: 'Duration of HTTP server requests.',
    });
  }

  // Not a subscriber of its own: the request-id subscriber (one per process) calls this right after it has
  // given the request its id, in the same turn that then emits 'request' to the app.
  override enable(): void {
    if (this.subscribed) return;
    this.subscribed = true;
    setServerRequestHook(this.onRequestStart);
  }

  override disable(): void {
    if (!this.subscribed) return;
    this.subscribed = false;
    setServerRequestHook(undefined);
  }

  private readonly onRequestStart = (request: IncomingMessage, response: ServerResponse, state: ServerRequestState): void => {
    const method = KNOWN_METHODS.has(request.method ?? '') ? request.method! : '_OTHER';
    const scheme = (request.socket as TLSSocket).encrypted ? 'https' : 'http';
    const parent = propagation.extract(ROOT_CONTEXT, request.headers);
    // Unknown methods name the span just "HTTP", per the conventions.
    const name = method === '_OTHER' ? 'HTTP' : method;
    const span = this.tracer.startSpan(name, { kind: SpanKind.SERVER }, parent);
    // Set after creation, as pg-query.ts does: the SDK cleans creation attributes twice (for the sampler,
    // then for the span) and the agent's samplers never read them; an unsampled request builds none.
    if (span.isRecording()) span.setAttributes(requestAttributes(request, method, scheme, state.requestId));
    const rpc = { type: RPCType.HTTP as const, span };
    // Active for the rest of this turn, which emits 'request' to the app, and for all the work it starts.
    // Not disposed: Node restores the async context when this socket callback returns, and the next
    // request on the connection attaches its own.
    context.attach(setRPCMetadata(trace.setSpan(parent, span), rpc));
    state.span = span;
    state.open = rpc;
    state.method = method;
    state.name = name;
    state.scheme = scheme;
    state.start = performance.now();
    // 'close' follows 'finish' on a completed response, and also comes alone when the client goes away.
    // A response closes once: `on` with one shared listener, no closure or once-wrapper per request.
    response.on('close', this.onResponseClose);
  };

  // A plain function made once: `this` is the response, everything per request is in the request's state.
  private readonly onResponseClose = ((instrumentation: HttpServerInstrumentation) =>
    function (this: ServerResponse): void {
      instrumentation.end(this);
    })(this);

  private end(response: ServerResponse): void {
    const request = response.req;
    const state = requestStateOf(request);
    const rpc = state?.open;
    if (state === undefined || rpc === undefined) return;
    state.open = undefined;
    const { method, name, scheme, start } = state;
    const span = rpc.span;
    // A status only if one was sent: an aborted request still has Node's default 200 (or Koa's 404) set.
    const status = response.headersSent ? response.statusCode : undefined;
    const route = rpc.route;
    const errorType = !response.writableFinished ? 'aborted' : status !== undefined && status >= 500 ? String(status) : undefined;

    const attributes: Attributes = {};
    if (status !== undefined) attributes['http.response.status_code'] = status;
    if (route !== undefined) attributes['http.route'] = route;
    if (errorType !== undefined) attributes['error.type'] = errorType;
    span.setAttributes(attributes);
    if (route !== undefined) span.updateName(`${name} ${route}`);
    // Not over a status a framework hook set with the exception's message (server-request.ts).
    if (errorType !== undefined && (span as Span & { status?: { code: SpanStatusCode } }).status?.code !== SpanStatusCode.ERROR) {
      span.setStatus({ code: SpanStatusCode.ERROR });
    }
    span.end();

    this.duration.record((performance.now() - start) / 1000, metricAttributes(method, scheme, request.httpVersion, status, route, errorType));
  }
}

// The metric's attributes take few distinct values (routes × methods × statuses), so one frozen object per
// combination is kept rather than a new object per request, looked up by route, method and status without
// building a key. Aborted requests and the rare https or HTTP/2 request on a server seen first with
// another scheme or version are built afresh. Bounded by the number of routes the app has, and capped.
const metricAttributeCache = new Map<string | undefined, Map<string, Map<number, Attributes>>>();
const METRIC_ATTRIBUTE_ROUTES_MAX = 1000;

function metricAttributes(
  method: string,
  scheme: string,
  version: string,
  status: number | undefined,
  route: string | undefined,
  errorType: string | undefined,
): Attributes {
  let byMethod = metricAttributeCache.get(route);
  const cached = byMethod?.get(method)?.get(status ?? 0);
  if (cached !== undefined && cached['url.scheme'] === scheme && cached['network.protocol.version'] === version && cached['error.type'] === errorType) {
    return cached;
  }
  const attributes: Attributes = { 'http.request.method': method, 'url.scheme': scheme, 'network.protocol.version': version };
  if (status !== undefined) attributes['http.response.status_code'] = status;
  if (route !== undefined) attributes['http.route'] = route;
  if (errorType !== undefined) attributes['error.type'] = errorType;
  if (cached !== undefined || errorType === 'aborted') return attributes;
  if (byMethod === undefined) {
    if (metricAttributeCache.size >= METRIC_ATTRIBUTE_ROUTES_MAX) return attributes;
    metricAttributeCache.set(route, (byMethod = new Map()));
  }
  let byStatus = byMethod.get(method);
  if (byStatus === undefined) byMethod.set(method, (byStatus = new Map()));
  byStatus.set(status ?? 0, Object.freeze(attributes));
  return attributes;
}

function requestAttributes(request: IncomingMessage, method: string, scheme: string, requestId: string): Attributes {
  const url = request.url ?? '/';
  const queryAt = url.indexOf('?');
  const host = request.headers.host;
  const colon = host ? host.lastIndexOf(':') : -1;
  const attributes: Attributes = {
    'http.request.method': method,
    'url.scheme': scheme,
    'url.path': queryAt === -1 ? url : url.slice(0, queryAt),
    'network.protocol.version': request.httpVersion,
  };
  // Each attribute is serialized and shipped for every request: the peer only when it is not the client
  // (a proxy in between), since otherwise it repeats client.address.
  const peer = request.socket.remoteAddress;
  const client = clientAddress(request) ?? peer;
  if (client !== undefined) attributes['client.address'] = client;
  if (peer !== undefined && peer !== client) {
    attributes['network.peer.address'] = peer;
    attributes['network.peer.port'] = request.socket.remotePort;
  }
  if (queryAt !== -1) attributes['url.query'] = url.slice(queryAt + 1);
  if (host) {
    // "host:port", "[::1]:port" or a bare host.
    const hasPort = colon > host.lastIndexOf(']');
    attributes['server.address'] = hasPort ? host.slice(0, colon) : host;
    const port = hasPort ? Number(host.slice(colon + 1)) : scheme === 'https' ? 443 : 80;
    if (Number.isInteger(port) && port > 0 && port < 65536) attributes['server.port'] = port;
  }
  const userAgent = request.headers['user-agent'];
  if (userAgent) attributes['user_agent.original'] = userAgent;
  if (method === '_OTHER') attributes['http.request.method_original'] = request.method;
  attributes.request_id = requestId;
  return attributes;
}

/** The original client per the semantic conventions: the first X-Forwarded-For hop when present. */
function clientAddress(request: IncomingMessage): string | undefined {
  const forwarded = request.headers['x-forwarded-for'];
  const first = (Array.isArray(forwarded) ? forwarded[0] : forwarded)?.split(',')[0]?.trim();
  return first || undefined;
}
