// What the two outgoing-HTTP instrumentations (node:http, fetch) share: request state, span rules, the histogram.
// One rule for status, error.type and url.full scrubbing, so a call looks the same whichever client made it.
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { propagation, SpanKind, SpanStatusCode, trace, type Attributes, type Context, type Histogram, type Span, type TextMapSetter } from '@opentelemetry/api';
import { InstrumentationBase } from '@opentelemetry/instrumentation';

const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH', 'QUERY']);

/** One per request, kept on the library's own request object until the span ends. */
export interface ClientSpanState {
  /** Undefined when tracing is suppressed or the span is not recording: the metric is still recorded. */
  span: Span | undefined;
  start: number;
  /** The http.client.request.duration attributes, completed as the response arrives. */
  metric: Attributes;
}

/** The request line's method as the conventions name it: known methods upper-cased, anything else `_OTHER`. */
export function normalizeMethod(method: string): string {
  if (KNOWN_METHODS.has(method)) return method;
  const upper = method.toUpperCase();
  return KNOWN_METHODS.has(upper) ? upper : '_OTHER';
}

/** The state of a request that starts now, with the duration attributes known at its start. */
export function newClientSpanState(metric: Attributes): ClientSpanState {
  return { span: undefined, start: performance.now(), metric };
}

/** A response head arrived: its status code, with `attributes` (the network ones) added to the span. */
export function setResponseStatus(state: ClientSpanState, status: number, attributes: Attributes): void {
  // For a client 4xx is a failure too (a server span marks only 5xx): ERROR, and error.type is the code.
  const failed = status >= 400;
  state.metric['http.response.status_code'] = status;
  if (failed) state.metric['error.type'] = String(status);
  const span = state.span;
  if (!span) return;
  attributes['http.response.status_code'] = status;
  if (failed) attributes['error.type'] = String(status);
  span.setAttributes(attributes);
  if (failed) span.setStatus({ code: SpanStatusCode.ERROR });
}

/** The request failed (refused, reset, aborted, timed out…): error.type, ERROR status and the exception. */
export function failClientSpan(state: ClientSpanState, error: unknown): void {
  const type = errorType(error);
  state.metric['error.type'] = type;
  const span = state.span;
  if (!span) return;
  span.setAttribute('error.type', type);
  span.recordException(error instanceof Error ? error : String(error));
  span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
}

/**
 * error.type of a failed request, one rule for http and fetch. Upstream differs: instrumentation-http uses
 * error.name ("Error" for every system error), instrumentation-undici error.code || error.name. A string code
 * is the low-cardinality identifier the conventions ask for (ECONNREFUSED, ECONNRESET, UND_ERR_SOCKET…);
 * an abort is "AbortError" whichever API raised it (fetch's DOMException has the numeric code 20, Node's
 * AbortError the code ABORT_ERR).
 */
export function errorType(error: unknown): string {
  if (typeof error !== 'object' || error === null) return '_OTHER';
  const { name, code } = error as { name?: unknown; code?: unknown };
  if (name === 'AbortError') return name;
  if (typeof code === 'string' && code !== '') return code;
  return typeof name === 'string' && name !== '' ? name : 'Error';
}

// Query parameters whose values the conventions (and upstream instrumentation-http) redact in url.full:
// signed-URL credentials. Everything else in the query is kept as sent; the redacting span processor
// scrubs token=, password= and the like later, as for every attribute.
const SIGNED_URL_PARAM = /([?&](?:sig|Signature|AWSAccessKeyId|X-Goog-Signature|X-Amz-Signature|X-Amz-Credential|X-Amz-Security-Token)=)[^&#]*/g;

/** A path or query with signed-URL credentials replaced by REDACTED; untouched (and no regex run) without a query. */
export function redactQuery(pathOrQuery: string, queryAt: number): string {
  if (queryAt === -1) return pathOrQuery;
  return pathOrQuery.replace(SIGNED_URL_PARAM, '$1REDACTED');
}

type Handler = (message: unknown) => void;

/**
 * Base of the two client instrumentations: the duration histogram, and the diagnostics channels a subclass
 * handles, subscribed in enable() and dropped in disable() so nothing runs while it is off.
 */
export abstract class ClientInstrumentation extends InstrumentationBase {
  // `declare`: set from the base constructor (through _updateMetricInstruments), which a field
  // initializer would overwrite.
  declare private duration: Histogram;
  private subscribed = false;
  private guarded: Array<[string, Handler]> | undefined;

  constructor(name: string, version: string) {
    // Not enabled from the constructor: registerInstrumentations enables it once providers are set.
    super(name, version, { enabled: false });
  }

  /** Channel name → handler; handlers are bound once (arrow fields), never per request. */
  protected abstract channels(): Record<string, Handler>;

  protected init() {
    return []; // nothing to patch: the libraries publish what we need on diagnostics channels
  }

  /**
   * Starts the client span under `parent` (the context active when the request was made) and carries its
   * context in the request's headers. The caller checks isTracingSuppressed(parent) first: the agent's own
   * calls (the audit client) get no span, and nothing is added to what they send.
   */
  protected startClientSpan<C>(
    state: ClientSpanState,
    parent: Context,
    method: string,
    attributes: Attributes,
    carrier: C,
    setter: TextMapSetter<C> | undefined,
  ): void {
    // Unknown methods name the span just "HTTP", per the conventions.
    const span = this.tracer.startSpan(method === '_OTHER' ? 'HTTP' : method, { kind: SpanKind.CLIENT }, parent);
    // Set after creation (see pg-query.ts): the SDK would clean creation attributes twice.
    if (span.isRecording()) span.setAttributes(attributes);
    // Injected even for a span that is not recording: the next service must see the sampling decision.
    if (setter) propagation.inject(trace.setSpan(parent, span), carrier, setter);
    if (span.isRecording()) state.span = span;
  }

  protected endClientSpan(state: ClientSpanState): void {
    state.span?.end();
    this.duration.record((performance.now() - state.start) / 1000, state.metric);
  }

  protected override _updateMetricInstruments(): void {
    this.duration = this.meter.createHistogram('http.client.request.duration', {
      unit: 's',
      description: 'Duration of HTTP client requests.',
    });
  }

  override enable(): void {
    if (this.subscribed) return;
    this.subscribed = true;
    for (const [name, handler] of this.guardedHandlers()) subscribe(name, handler);
  }

  override disable(): void {
    if (!this.subscribed) return;
    this.subscribed = false;
    for (const [name, handler] of this.guardedHandlers()) unsubscribe(name, handler);
  }

  /**
   * The handlers, each behind a try/catch made once: diagnostics_channel rethrows a subscriber's exception
   * as an uncaught exception on the next tick, which would crash the app over a telemetry bug.
   */
  private guardedHandlers(): Array<[string, Handler]> {
    this.guarded ??= Object.entries(this.channels()).map(([name, handler]): [string, Handler] => [
      name,
      (message) => {
        try {
          handler(message);
        } catch (err) {
          this._diag.error(`${name} handler failed`, err);
        }
      },
    ]);
    return this.guarded;
  }
}
