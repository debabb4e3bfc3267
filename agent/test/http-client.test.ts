// Outgoing HTTP from a preloaded agent: node:http and fetch client spans, traceparent and the duration metric.
// Asserted from a real OTLP/gRPC receiver and a real downstream server in this process, and compared call by
// call with upstream's instrumentations (LOOKOUT_UPSTREAM_INSTRUMENTATIONS=http,undici).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { channel } from 'node:diagnostics_channel';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { context, propagation, ROOT_CONTEXT, trace, TraceFlags } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { type Attributes, OtlpReceiver, type ReceivedSpan, type RunningApp } from '@lookout/testkit';
import { HttpClientInstrumentation } from '../src/http-client.js';
import { UndiciClientInstrumentation } from '../src/undici-client.js';
import { spawnApp } from './fixtures/spawn-app.js';

type Client = 'http' | 'fetch';
type Mode = 'ours' | 'upstream' | 'bare';

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
}

/** The next service: records what reached it. /hang never answers; /cut sends half a body and hangs up. */
class Downstream {
  readonly seen: Seen[] = [];
  private readonly server = http.createServer((req, res) => {
    this.seen.push({ method: req.method!, url: req.url!, headers: req.headers });
    if (req.url!.startsWith('/status/')) {
      res.statusCode = Number(req.url!.slice('/status/'.length));
      res.end('status');
    } else if (req.url!.startsWith('/hang')) {
      // Held open until the client aborts.
    } else if (req.url === '/cut') {
      res.writeHead(200, { 'content-length': '100' });
      res.write('only part of it', () => res.socket?.destroy());
    } else {
      res.end('ok');
    }
  });
  port = 0;

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  stop(): void {
    this.server.closeAllConnections();
    this.server.close();
  }
}

interface Case {
  name: string;
  clients: Client[];
  url(downstream: Downstream, closedPort: number): string;
  method?: string;
  userAgent?: string;
  abort?: boolean;
  suppressed?: boolean;
}

const BOTH: Client[] = ['http', 'fetch'];
const CASES: Case[] = [
  { name: 'ok', clients: BOTH, url: (d) => `${d.url}/ok?x=1&y=two`, userAgent: 'lookout-test/1.0' },
  { name: 'signed', clients: BOTH, url: (d) => `${d.url}/ok?sig=s3cr3t&x=1` },
  { name: 'status500', clients: BOTH, url: (d) => `${d.url}/status/500` },
  { name: 'status404', clients: BOTH, url: (d) => `${d.url}/status/404` },
  { name: 'refused', clients: BOTH, url: (_d, closedPort) => `http://127.0.0.1:${closedPort}/nothing` },
  { name: 'aborted', clients: BOTH, url: (d) => `${d.url}/hang`, abort: true },
  { name: 'cut', clients: BOTH, url: (d) => `${d.url}/cut` },
  { name: 'unknownMethod', clients: BOTH, url: (d) => `${d.url}/ok`, method: 'PURGE' },
  // fetch refuses such a URL before any request is made.
  { name: 'credentials', clients: ['http'], url: (d) => `http://user:pw@127.0.0.1:${d.port}/ok` },
  { name: 'suppressed', clients: BOTH, url: (d) => `${d.url}/ok?audit=1`, suppressed: true },
];

interface Outcome {
  status?: number;
  body?: string;
  error?: { name: string; code?: string | number; message: string };
}

interface Call {
  client: Client;
  case: Case;
  /** The trace the test started by sending traceparent to the app: the app's server span and its client span. */
  traceId: string;
  outcome: Outcome;
  /** What the downstream server received during this call (nothing for a refused connection). */
  seen: Seen[];
  /** The trace of the test's own GET /abort, when the call was aborted. */
  abortTraceId?: string;
}

const hex = (bytes: number) => randomBytes(bytes).toString('hex');
const SCOPES = { http: '@lookout/agent/http-client', fetch: '@lookout/agent/undici-client' };
const UPSTREAM_SCOPES = { http: '@opentelemetry/instrumentation-http', fetch: '@opentelemetry/instrumentation-undici' };
const SLO_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2, 2.5, 5, 7.5, 10];
const METRIC_KEYS = ['http.request.method', 'server.address', 'server.port', 'url.scheme', 'http.response.status_code', 'error.type', 'network.protocol.version'];

async function until(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Makes one call through the app, in a trace of our own, and collects what the downstream saw of it. */
async function call(app: RunningApp, downstream: Downstream, closedPort: number, client: Client, c: Case): Promise<Call> {
  const traceId = hex(16);
  const query = new URLSearchParams({ client, url: c.url(downstream, closedPort) });
  if (c.method) query.set('method', c.method);
  if (c.userAgent) query.set('ua', c.userAgent);
  if (c.suppressed) query.set('suppressed', '1');
  const abortId = hex(4);
  if (c.abort) query.set('abort', abortId);
  const before = downstream.seen.length;
  const response = fetch(`${app.url}/run?${query}`, { headers: { traceparent: `00-${traceId}-${hex(8)}-01` } });
  let abortTraceId: string | undefined;
  if (c.abort) {
    // Abort once the request has reached the downstream server, not before it was sent.
    await until('the request to abort at the downstream server', () => downstream.seen.length > before);
    abortTraceId = hex(16);
    await (await fetch(`${app.url}/abort?id=${abortId}`, { headers: { traceparent: `00-${abortTraceId}-${hex(8)}-01` } })).text();
  }
  const outcome = (await (await response).json()) as Outcome;
  return { client, case: c, traceId, outcome, seen: downstream.seen.slice(before), abortTraceId };
}

describe('outgoing HTTP client spans (node:http and fetch) from diagnostics channels', function () {
  this.timeout(120_000);
  const receiver = new OtlpReceiver();
  const downstream = new Downstream();
  let closedPort = 0;
  const calls: Record<Mode, Call[]> = { ours: [], upstream: [], bare: [] };
  const service: Record<Exclude<Mode, 'bare'>, string> = { ours: 'client-ours', upstream: 'client-upstream' };

  before(async () => {
    await Promise.all([receiver.start(), downstream.start()]);
    const probe = http.createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    closedPort = (probe.address() as AddressInfo).port;
    await new Promise((resolve) => probe.close(resolve)); // nothing listens there now: connection refused

    const env = { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint };
    const apps: Record<Mode, () => Promise<RunningApp>> = {
      ours: () => spawnApp('client-app.mjs', { env: { ...env, OTEL_SERVICE_NAME: service.ours } }),
      upstream: () => spawnApp('client-app.mjs', { env: { ...env, OTEL_SERVICE_NAME: service.upstream, LOOKOUT_UPSTREAM_INSTRUMENTATIONS: 'http,undici' } }),
      bare: () => spawnApp('client-app.mjs', { agent: false }),
    };
    // One app at a time, one call at a time: what the downstream saw during a call belongs to that call.
    for (const mode of ['ours', 'upstream', 'bare'] as const) {
      const app = await apps[mode]();
      try {
        for (const c of CASES) for (const client of c.clients) calls[mode].push(await call(app, downstream, closedPort, client, c));
      } finally {
        await app.stop();
        assert.equal(app.stderr(), '', `${mode} app wrote to stderr`);
      }
    }
    // A suppressed call's server span ends after where its client span would have, so once every server span
    // is in, every client span that exists is too.
    await receiver.waitFor('the server span of every call', () =>
      (['ours', 'upstream'] as const).every((mode) => calls[mode].every((c) => serverSpanOf(c))),
    );
  });

  after(async () => {
    downstream.stop();
    await receiver.stop();
  });

  const inTrace = (c: Call) => receiver.spans.filter((s) => s.traceId === c.traceId);
  const serverSpanOf = (c: Call) => inTrace(c).find((s) => s.kind === 'SPAN_KIND_SERVER');
  const clientSpansOf = (c: Call) => inTrace(c).filter((s) => s.kind === 'SPAN_KIND_CLIENT');
  const clientSpanOf = (c: Call): ReceivedSpan => {
    const spans = clientSpansOf(c);
    assert.equal(spans.length, 1, `one client span for ${c.client} ${c.case.name}, got ${spans.length}`);
    return spans[0]!;
  };
  const find = (mode: Mode, client: Client, name: string): Call => {
    const found = calls[mode].find((c) => c.client === client && c.case.name === name);
    assert.ok(found, `${mode} ${client} ${name} was run`);
    return found;
  };

  for (const client of BOTH) {
    describe(`through ${client === 'http' ? 'http.request' : 'fetch'}`, () => {
      it('makes a CLIENT span named by the method, under the active server span, with the stable HTTP attributes', () => {
        const c = find('ours', client, 'ok');
        assert.deepEqual(c.outcome, { status: 200, body: 'ok' });
        const span = clientSpanOf(c);
        const server = serverSpanOf(c)!;
        assert.equal(span.name, 'GET');
        assert.equal(span.kind, 'SPAN_KIND_CLIENT');
        assert.equal(span.scope, SCOPES[client]);
        assert.equal(span.parentSpanId, server.spanId, 'a child of the span active when the request was made');
        assert.equal(span.status.code, 'STATUS_CODE_UNSET');
        assert.deepEqual(span.events, []);
        const port = downstream.port;
        assert.deepEqual(span.attributes, {
          'http.request.method': 'GET',
          'server.address': '127.0.0.1',
          'server.port': port,
          'url.full': `http://127.0.0.1:${port}/ok?x=1&y=two`,
          'user_agent.original': 'lookout-test/1.0',
          'network.peer.address': '127.0.0.1',
          'network.peer.port': port,
          'network.protocol.version': '1.1',
          'http.response.status_code': 200,
          // As upstream undici has them for fetch.
          ...(client === 'fetch' ? { 'url.path': '/ok', 'url.query': 'x=1&y=two', 'url.scheme': 'http' } : {}),
        });
      });

      it('puts traceparent on the wire so the downstream server continues the trace, and adds nothing else', () => {
        for (const name of ['ok', 'status500', 'cut', 'unknownMethod']) {
          const c = find('ours', client, name);
          const span = clientSpanOf(c);
          assert.equal(c.seen.length, 1);
          assert.equal(c.seen[0]!.headers.traceparent, `00-${span.traceId}-${span.spanId}-01`, `${name}: the downstream's parent is the client span`);
          // The same call without the agent sent exactly the same request, minus traceparent.
          const bare = find('bare', client, name);
          const { traceparent: _added, ...rest } = c.seen[0]!.headers;
          assert.deepEqual(rest, bare.seen[0]!.headers, `${name}: headers other than traceparent are the app's own`);
          assert.equal(c.seen[0]!.method, bare.seen[0]!.method);
          assert.equal(c.seen[0]!.url, bare.seen[0]!.url);
          assert.deepEqual(c.outcome, bare.outcome, `${name}: the app saw the same outcome as without the agent`);
        }
      });

      it('marks 4xx and 5xx responses as errors with error.type set to the status code', () => {
        for (const status of [500, 404]) {
          const c = find('ours', client, `status${status}`);
          assert.deepEqual(c.outcome, { status, body: 'status' });
          const span = clientSpanOf(c);
          assert.equal(span.status.code, 'STATUS_CODE_ERROR');
          assert.equal(span.attributes['http.response.status_code'], status);
          assert.equal(span.attributes['error.type'], String(status));
          assert.deepEqual(span.events, [], 'no exception: the request itself worked');
        }
      });

      it('records a refused connection: ERROR status, error.type ECONNREFUSED and the exception; the app gets its error', () => {
        const c = find('ours', client, 'refused');
        assert.deepEqual(c.outcome, find('bare', client, 'refused').outcome);
        assert.equal(c.outcome.error?.code, 'ECONNREFUSED');
        const span = clientSpanOf(c);
        assert.equal(span.status.code, 'STATUS_CODE_ERROR');
        assert.match(span.status.message, /ECONNREFUSED/);
        assert.equal(span.attributes['error.type'], 'ECONNREFUSED');
        assert.equal(span.attributes['server.port'], closedPort);
        assert.equal(span.attributes['http.response.status_code'], undefined);
        assert.deepEqual(span.events.map((e) => [e.name, e.attributes['exception.type']]), [['exception', 'ECONNREFUSED']]);
      });

      it('records an aborted request (AbortController) as a failure with error.type AbortError', () => {
        const c = find('ours', client, 'aborted');
        assert.equal(c.outcome.error?.name, 'AbortError');
        assert.deepEqual(c.outcome, find('bare', client, 'aborted').outcome);
        const span = clientSpanOf(c);
        assert.equal(span.status.code, 'STATUS_CODE_ERROR');
        assert.equal(span.attributes['error.type'], 'AbortError');
        assert.deepEqual(span.events.map((e) => e.name), ['exception']);
        assert.match(String(span.events[0]!.attributes['exception.message']), /aborted/);
      });

      it('records a response cut off mid-body as a failure, keeping its status code', () => {
        const c = find('ours', client, 'cut');
        const span = clientSpanOf(c);
        assert.equal(span.status.code, 'STATUS_CODE_ERROR');
        assert.equal(span.attributes['http.response.status_code'], 200);
        assert.equal(span.attributes['error.type'], client === 'http' ? 'ECONNRESET' : 'UND_ERR_SOCKET');
        assert.deepEqual(span.events.map((e) => e.name), ['exception']);
      });

      it('names a span of an unknown method "HTTP", with http.request.method _OTHER and the method as sent', () => {
        const span = clientSpanOf(find('ours', client, 'unknownMethod'));
        assert.equal(span.name, 'HTTP');
        assert.equal(span.attributes['http.request.method'], '_OTHER');
        assert.equal(span.attributes['http.request.method_original'], 'PURGE');
        assert.equal(find('ours', client, 'unknownMethod').seen[0]!.method, 'PURGE');
        assert.equal(clientSpanOf(find('ours', client, 'ok')).attributes['http.request.method_original'], undefined, 'only when it differs');
      });

      it('keeps signed-URL credentials out of url.full (and url.query)', () => {
        const c = find('ours', client, 'signed');
        assert.equal(c.seen[0]!.url, '/ok?sig=s3cr3t&x=1', 'the request itself is untouched');
        const span = clientSpanOf(c);
        assert.equal(span.attributes['url.full'], `${downstream.url}/ok?sig=REDACTED&x=1`);
        if (client === 'fetch') assert.equal(span.attributes['url.query'], 'sig=REDACTED&x=1');
        const leaks = receiver.spans.filter((s) => s.resource['service.name'] === service.ours && s.kind === 'SPAN_KIND_CLIENT' && JSON.stringify(s).includes('s3cr3t'));
        assert.deepEqual(leaks.map((s) => s.attributes), []);
      });

      it('adds no span and no header when tracing is suppressed, as the agent\'s own audit client does', () => {
        const c = find('ours', client, 'suppressed');
        assert.deepEqual(c.outcome, { status: 200, body: 'ok' });
        assert.ok(serverSpanOf(c), 'the server span of the call is in');
        assert.deepEqual(clientSpansOf(c), [], 'no client span');
        assert.equal(c.seen[0]!.headers.traceparent, undefined, 'no traceparent');
        assert.deepEqual(c.seen[0]!.headers, find('bare', client, 'suppressed').seen[0]!.headers);
      });
    });
  }

  it('keeps user:password@ out of url.full for http (fetch refuses such URLs itself)', () => {
    const c = find('ours', 'http', 'credentials');
    assert.deepEqual(c.outcome, { status: 200, body: 'ok' });
    assert.equal(clientSpanOf(c).attributes['url.full'], `${downstream.url}/ok`);
    assert.match(String(c.seen[0]!.headers.authorization), /^Basic /, 'the app still sends its credentials');
  });

  it('traces nothing but the app\'s own calls: no span of the OTLP export or any other agent traffic', () => {
    const traces = new Set(calls.ours.flatMap((c) => [c.traceId, c.abortTraceId]));
    const strays = receiver.spans.filter((s) => s.resource['service.name'] === service.ours && !traces.has(s.traceId));
    assert.deepEqual(strays.map((s) => `${s.kind} ${s.name} ${JSON.stringify(s.attributes)}`), []);
    assert.ok(!receiver.spans.some((s) => s.attributes['server.port'] === receiver.port), 'no span of a call to the receiver');
  });

  it('exports http.client.request.duration in seconds on the SLO buckets, one point per call, with the attributes of its span', async () => {
    for (const client of BOTH) {
      const expected = expectedPoints(calls.ours.filter((c) => c.client === client), 'ours');
      const metric = await receiver.waitFor(`http.client.request.duration from ${SCOPES[client]} with all ${client} calls`, () => {
        const m = newest('http.client.request.duration', service.ours, SCOPES[client]);
        return m && total(m.points) === calls.ours.filter((c) => c.client === client).length ? m : undefined;
      });
      assert.equal(metric.unit, 's');
      assert.equal(metric.type, 'histogram');
      assert.equal(metric.temporality, 'AGGREGATION_TEMPORALITY_CUMULATIVE');
      assert.deepEqual(pointCounts(metric.points), expected);
      for (const point of metric.points) {
        assert.deepEqual(point.explicitBounds, SLO_BUCKETS);
        assert.ok(point.sum! > 0 && point.sum! < 5 * point.count!, `durations in seconds, got sum ${point.sum} for ${point.count}`);
      }
    }
  });

  it('matches upstream instrumentation-http and -undici on the same calls, but for the differences listed here', async () => {
    for (const ours of calls.ours) {
      const upstream = find('upstream', ours.client, ours.case.name);
      assert.deepEqual(ours.outcome, upstream.outcome, `${ours.client} ${ours.case.name}: the app saw the same outcome`);
      const label = `${ours.client} ${ours.case.name}`;
      const ourSpans = clientSpansOf(ours);
      const theirSpans = clientSpansOf(upstream);
      assert.equal(ourSpans.length, theirSpans.length, `${label}: as many client spans`);
      if (ourSpans.length === 0) continue;
      assert.equal(theirSpans[0]!.scope, UPSTREAM_SCOPES[ours.client], `${label}: upstream's instrumentation made it (the fallback variable works)`);
      assert.deepEqual(view(ours, ourSpans[0]!), asOurs(ours, view(upstream, theirSpans[0]!)), label);
      // Both carried their client span to the next service.
      for (const [c, span] of [[ours, ourSpans[0]!], [upstream, theirSpans[0]!]] as const) {
        assert.equal(c.seen[0]?.headers.traceparent, c.seen.length ? `00-${span.traceId}-${span.spanId}-01` : undefined, `${label}: traceparent`);
      }
    }
    // Upstream's metric follows its own spans the same way ours does (upstream http records no url.scheme).
    for (const client of BOTH) {
      const metric = await receiver.waitFor(`upstream's http.client.request.duration for ${client}`, () => {
        const m = newest('http.client.request.duration', service.upstream, UPSTREAM_SCOPES[client]);
        return m && total(m.points) === calls.upstream.filter((c) => c.client === client).length ? m : undefined;
      });
      assert.deepEqual(pointCounts(metric.points), expectedPoints(calls.upstream.filter((c) => c.client === client), 'upstream'));
    }
  });

  /** What the comparison looks at: everything but ids and timings (ports are the same for both runs). */
  function view(c: Call, span: ReceivedSpan) {
    const parent = inTrace(c).find((s) => s.spanId === span.parentSpanId);
    return {
      name: span.name,
      kind: span.kind,
      status: span.status,
      attributes: span.attributes,
      events: span.events.map((e) => ({ name: e.name, type: e.attributes['exception.type'], message: e.attributes['exception.message'] })),
      parent: parent && { kind: parent.kind, name: parent.name },
    };
  }

  /** Upstream's span as ours must look, each change a deliberate difference (see src/client-span.ts). */
  function asOurs(c: Call, upstream: ReturnType<typeof view>): ReturnType<typeof view> {
    const expected = structuredClone(upstream);
    const attributes: Attributes = expected.attributes;
    if (c.client === 'http') {
      // error.type from the error's code where it has one (upstream http: error.name, "Error" for any system error).
      if (c.case.name === 'refused') attributes['error.type'] = 'ECONNREFUSED';
      // Unknown methods name the span "HTTP", per the conventions (upstream http: the raw method).
      if (c.case.name === 'unknownMethod') expected.name = 'HTTP';
      // Credentials never reach the ClientRequest, so there is no user:password@ to show as REDACTED.
      if (c.case.name === 'credentials') attributes['url.full'] = String(attributes['url.full']).replace(/\/\/[^@/]*@/, '//');
      // A response cut off mid-body failed (upstream http ends the span as a success).
      if (c.case.name === 'cut') {
        attributes['error.type'] = 'ECONNRESET';
        expected.status = { code: 'STATUS_CODE_ERROR', message: 'aborted' };
        expected.events = [{ name: 'exception', type: 'ECONNRESET', message: 'aborted' }];
      }
    } else {
      // http.request.method_original only when it differs from http.request.method (upstream undici: always).
      if (attributes['http.request.method_original'] === attributes['http.request.method']) delete attributes['http.request.method_original'];
      // url.query without its "?", and absent when empty (upstream undici: "?x=1", or "").
      const query = String(attributes['url.query']).replace(/^\?/, '');
      if (query) attributes['url.query'] = query;
      else delete attributes['url.query'];
      // Signed-URL credentials redacted in url.full and url.query, as upstream http does (upstream undici: kept).
      for (const key of ['url.full', 'url.query']) {
        if (typeof attributes[key] === 'string') attributes[key] = (attributes[key] as string).replace('sig=s3cr3t', 'sig=REDACTED');
      }
      // An aborted fetch failed (upstream undici ends its span as a success; upstream http records the abort).
      if (c.case.name === 'aborted') {
        attributes['error.type'] = 'AbortError';
        expected.status = { code: 'STATUS_CODE_ERROR', message: 'This operation was aborted' };
        // The SDK's recordException takes a DOMException's numeric code as its type.
        expected.events = [{ name: 'exception', type: '20', message: 'This operation was aborted' }];
      }
    }
    return expected;
  }

  /** The duration points a list of calls should give: one per request made, with its span's attributes. */
  function expectedPoints(list: Call[], mode: 'ours' | 'upstream'): Map<string, number> {
    const counts = new Map<string, number>();
    for (const c of list) {
      let attributes: Attributes;
      if (c.case.suppressed) {
        // No span to read: the same attributes as any plain GET to the downstream that answered 200.
        attributes = { 'http.request.method': 'GET', 'server.address': '127.0.0.1', 'server.port': downstream.port, 'http.response.status_code': 200, 'network.protocol.version': '1.1' };
      } else {
        attributes = Object.fromEntries(METRIC_KEYS.filter((k) => k in clientSpanOf(c).attributes).map((k) => [k, clientSpanOf(c).attributes[k]!]));
      }
      if (mode === 'ours' || c.client === 'fetch') attributes['url.scheme'] = 'http';
      else delete attributes['url.scheme'];
      const key = canonical(attributes);
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    return counts;
  }

  function newest(name: string, serviceName: string, scope: string) {
    for (let i = receiver.metrics.length - 1; i >= 0; i--) {
      const m = receiver.metrics[i]!;
      if (m.name === name && m.scope === scope && m.resource['service.name'] === serviceName) return m;
    }
    return undefined;
  }
});

function canonical(attributes: Attributes): string {
  return JSON.stringify(Object.fromEntries(Object.entries(attributes).sort(([a], [b]) => a.localeCompare(b))));
}

function pointCounts(points: Array<{ attributes: Attributes; count?: number }>): Map<string, number> {
  return new Map(points.map((p) => [canonical(p.attributes), p.count ?? 0]));
}

function total(points: Array<{ count?: number }>): number {
  return points.reduce((sum, p) => sum + (p.count ?? 0), 0);
}

// The instrumentations alone, in this process, for what a fixture app cannot easily show: switching off,
// requests whose head Node has already written, a traceparent the app set itself, an unsampled parent.
describe('the client instrumentations in-process', () => {
  const exporter = new InMemorySpanExporter();
  const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  const instrumentations = { http: new HttpClientInstrumentation(), fetch: new UndiciClientInstrumentation() };
  const downstream = new Downstream();

  before(async () => {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    propagation.setGlobalPropagator(new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] }));
    for (const instrumentation of Object.values(instrumentations)) {
      instrumentation.setTracerProvider(provider);
      instrumentation.enable();
    }
    await downstream.start();
  });

  after(() => {
    for (const instrumentation of Object.values(instrumentations)) instrumentation.disable();
    context.disable();
    propagation.disable();
    downstream.stop();
  });

  beforeEach(() => exporter.reset());

  function get(client: Client, path: string, headers?: Record<string, string> | string[]): Promise<{ status: number; seen: Seen }> {
    const before = downstream.seen.length;
    const done = (status: number) => ({ status, seen: downstream.seen[before]! });
    if (client === 'fetch') return fetch(`${downstream.url}${path}`, { headers: headers as Record<string, string> }).then(async (res) => (await res.text(), done(res.status)));
    return new Promise((resolve, reject) => {
      const req = http.request(`${downstream.url}${path}`, { headers }, (res) => res.resume().on('end', () => resolve(done(res.statusCode!))));
      req.on('error', reject).end();
    });
  }

  for (const client of BOTH) {
    it(`does nothing for ${client} once disabled, and works again once re-enabled`, async () => {
      instrumentations[client].disable();
      const off = await get(client, '/ok');
      assert.equal(off.seen.headers.traceparent, undefined);
      assert.deepEqual(exporter.getFinishedSpans(), []);
      instrumentations[client].enable();
      instrumentations[client].enable(); // idempotent: still one span per request
      const on = await get(client, '/ok');
      const spans = exporter.getFinishedSpans();
      assert.equal(spans.length, 1);
      assert.equal(on.seen.headers.traceparent, `00-${spans[0]!.spanContext().traceId}-${spans[0]!.spanContext().spanId}-01`);
    });

    it(`replaces a traceparent the app set on its ${client} request instead of sending two`, async () => {
      const own = `00-${'a'.repeat(32)}-${'b'.repeat(16)}-01`;
      const { seen } = await get(client, '/ok', { traceparent: own });
      const span = exporter.getFinishedSpans()[0]!;
      assert.equal(seen.headers.traceparent, `00-${span.spanContext().traceId}-${span.spanContext().spanId}-01`, 'one header, ours');
    });

    it(`carries the active context's baggage on ${client} through the global propagator`, async () => {
      const withBaggage = propagation.setBaggage(context.active(), propagation.createBaggage({ tenant: { value: 'acme' } }));
      const { seen } = await context.with(withBaggage, () => get(client, '/ok'));
      assert.equal(seen.headers.baggage, 'tenant=acme');
      assert.ok(seen.headers.traceparent);
    });

    it(`carries an unsampled parent's decision on ${client} without exporting a span`, async () => {
      const parent = trace.setSpanContext(ROOT_CONTEXT, { traceId: 'c'.repeat(32), spanId: 'd'.repeat(16), traceFlags: TraceFlags.NONE, isRemote: true });
      const { seen } = await context.with(parent, () => get(client, '/ok'));
      assert.match(String(seen.headers.traceparent), new RegExp(`^00-${'c'.repeat(32)}-[0-9a-f]{16}-00$`));
      assert.deepEqual(exporter.getFinishedSpans(), []);
    });
  }

  it('never throws into the app, even on a message it cannot read', async () => {
    // diagnostics_channel turns a subscriber's exception into an uncaught exception on the next tick.
    for (const name of ['http.client.request.created', 'http.client.response.finish', 'undici:request:create', 'undici:client:sendHeaders']) {
      channel(name).publish({ request: { method: 'GET', path: '/' }, response: {} });
    }
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(exporter.getFinishedSpans(), []);
  });

  it('leaves alone an http request whose head Node already wrote (headers given as an array): a span, no header, no throw', async () => {
    const { status, seen } = await get('http', '/ok', ['host', `127.0.0.1:${downstream.port}`, 'x-array', 'yes']);
    assert.equal(status, 200);
    assert.equal(seen.headers['x-array'], 'yes');
    assert.equal(seen.headers.traceparent, undefined);
    assert.equal(exporter.getFinishedSpans().length, 1);
  });

  it('takes server.address and server.port from where http connects, not from a Host header the app set', async () => {
    await new Promise<void>((resolve, reject) =>
      http
        .get({ hostname: '127.0.0.1', port: downstream.port, path: '/ok?a=1', headers: { host: 'api.example.test' } }, (res) => res.resume().on('end', resolve))
        .on('error', reject),
    );
    const span = exporter.getFinishedSpans()[0]!;
    assert.equal(span.attributes['server.address'], '127.0.0.1');
    assert.equal(span.attributes['server.port'], downstream.port);
    assert.equal(span.attributes['url.full'], `${downstream.url}/ok?a=1`);
    assert.equal(downstream.seen.at(-1)!.headers.host, 'api.example.test', "the app's Host header went out untouched");
  });
});
