// Where a preloaded agent sends its telemetry, chosen the way NodeSDK's users choose it: OTLP over gRPC,
// HTTP/protobuf or HTTP/JSON (OTEL_EXPORTER_OTLP_PROTOCOL, per signal too) to a real receiver of that
// protocol; OTEL_<SIGNAL>_EXPORTER otlp, console, none, and prometheus scraped by the real Prometheus binary;
// OTEL_PROPAGATORS b3 and b3multi read from an incoming request and sent on the outgoing one.
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Encoding, eventually, freePort, OtlpHttpReceiver, OtlpReceiver, type ReceivedTelemetry, type RunningApp, type SignalName, stackBinary } from '@lookout/testkit';
import { AGENT_DIR, spawnApp } from './fixtures/spawn-app.js';

const SIGNALS: SignalName[] = ['traces', 'metrics', 'logs'];
/** A self-signed certificate for localhost and 127.0.0.1, made for these tests (openssl req -x509 … -days 36500). */
const TLS_DIR = join(AGENT_DIR, 'test/fixtures/tls');

/** One request that makes a server span, a log record (the route logs "said hello") and a duration point. */
async function hello(app: RunningApp, name: string): Promise<void> {
  const res = await fetch(`${app.url}/hello/${name}`);
  assert.equal(res.status, 200);
  await res.text();
}

/** Waits until `receiver` has the span, the log record and the duration histogram of `service`'s hello. */
async function helloArrived(receiver: ReceivedTelemetry, service: string): Promise<void> {
  const ours = (item: { resource: Record<string, unknown> }) => item.resource['service.name'] === service;
  await receiver.waitFor(`${service}'s server span`, () => receiver.spans.some((s) => ours(s) && s.name === 'GET /hello/:name'));
  await receiver.waitFor(`${service}'s log record`, () => receiver.logs.some((l) => ours(l) && l.body === 'said hello'));
  await receiver.waitFor(`${service}'s request duration`, () =>
    receiver.metrics.some((m) => ours(m) && m.name === 'http.server.request.duration' && m.points.some((p) => p.count! > 0)),
  );
}

/** The console exporters' output (console.dir of each item) with the app's own JSON lines left out. */
function consoleText(app: RunningApp): string {
  return app.lines.filter((line): line is string => typeof line === 'string').join('\n');
}

describe('exporters loaded only when chosen', function () {
  this.timeout(30_000);

  it('loads no exporter at startup: neither @grpc/grpc-js nor the https of the OTLP/HTTP exporters', () => {
    // What an app sees once the preload has run, before any export (the first is a minute away).
    const probe = `import { createRequire } from 'node:module';
      const cache = Object.keys(createRequire(import.meta.url).cache);
      process.stdout.write(JSON.stringify({
        grpc: cache.filter((path) => path.includes('@grpc/grpc-js')).length,
        https: process.moduleLoadList.includes('NativeModule https'),
      }));
      process.exit(0);`;
    const out = execFileSync(process.execPath, ['--import', '@lookout/agent/register', '--input-type=module', '-e', probe], {
      cwd: AGENT_DIR,
      env: { PATH: process.env.PATH, OTEL_SERVICE_NAME: 'startup-probe' },
    });
    assert.deepEqual(JSON.parse(out.toString()), { grpc: 0, https: false });
  });
});

describe('exporters chosen from the environment', function () {
  this.timeout(60_000);
  const grpc = new OtlpReceiver();
  const otlpHttp = new OtlpHttpReceiver();
  let app: RunningApp | undefined;

  before(() => Promise.all([grpc.start(), otlpHttp.start()]));
  after(() => Promise.all([grpc.stop(), otlpHttp.stop()]));
  beforeEach(() => {
    grpc.reset();
    otlpHttp.reset();
  });
  afterEach(async () => {
    await app?.stop();
    app = undefined;
  });

  const protocols: Array<{ protocol: string | undefined; encoding?: Encoding; title: string }> = [
    { protocol: undefined, title: 'OTLP/gRPC when no protocol is set' },
    { protocol: 'http/protobuf', encoding: 'protobuf', title: 'OTLP/HTTP in protobuf with OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf' },
    { protocol: 'http/json', encoding: 'json', title: 'OTLP/HTTP in JSON with OTEL_EXPORTER_OTLP_PROTOCOL=http/json' },
  ];
  for (const { protocol, encoding, title } of protocols) {
    it(`delivers spans, metrics and log records over ${title}, to a receiver of that protocol`, async () => {
      const service = `proto-${encoding ?? 'grpc'}`;
      const receiver = encoding ? otlpHttp : grpc;
      const other = encoding ? grpc : otlpHttp;
      app = await spawnApp('esm-app.mjs', {
        env: { OTEL_SERVICE_NAME: service, OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: protocol },
      });
      await hello(app, 'ann');
      await helloArrived(receiver, service);
      if (encoding) {
        // The endpoint is the base URL: the receiver answers only on /v1/traces, /v1/metrics and /v1/logs.
        for (const signal of SIGNALS) assert.ok(otlpHttp.received.some((r) => r.signal === signal), `a ${signal} request`);
        assert.deepEqual([...new Set(otlpHttp.received.map((r) => r.encoding))], [encoding]);
      }
      assert.equal(other.countsByService[service], undefined, 'nothing went to the other protocol');
      await app.stop();
      const clientSpans = receiver.spans.filter((s) => s.kind === 'SPAN_KIND_CLIENT');
      assert.deepEqual(clientSpans.map((s) => s.attributes['url.full']), [], 'the exports themselves are not traced');
    });
  }

  it('delivers over OTLP/gRPC with TLS to an https endpoint, trusting OTEL_EXPORTER_OTLP_CERTIFICATE', async () => {
    const tls = { key: readFileSync(join(TLS_DIR, 'localhost-key.pem')), cert: readFileSync(join(TLS_DIR, 'localhost-cert.pem')) };
    const secure = new OtlpReceiver({ tls });
    await secure.start();
    try {
      app = await spawnApp('esm-app.mjs', {
        env: { OTEL_SERVICE_NAME: 'grpc-tls', OTEL_EXPORTER_OTLP_ENDPOINT: secure.endpoint, OTEL_EXPORTER_OTLP_CERTIFICATE: join(TLS_DIR, 'localhost-cert.pem') },
      });
      await hello(app, 'tls');
      await helloArrived(secure, 'grpc-tls');
      assert.doesNotMatch(app.stderr(), /cannot export/);
    } finally {
      await secure.stop();
    }
  });

  it('takes the protocol and endpoint per signal over the shared ones, using a per-signal HTTP endpoint as given', async () => {
    app = await spawnApp('esm-app.mjs', {
      env: {
        OTEL_SERVICE_NAME: 'per-signal',
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        OTEL_EXPORTER_OTLP_ENDPOINT: otlpHttp.endpoint,
        OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'grpc',
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: grpc.endpoint,
        OTEL_EXPORTER_OTLP_LOGS_PROTOCOL: 'http/protobuf',
        // The full URL: nothing is appended to a per-signal endpoint (…/v1/logs/v1/logs would get a 404).
        OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: `${otlpHttp.endpoint}/v1/logs`,
      },
    });
    await hello(app, 'bo');
    await grpc.waitFor('the span over gRPC', () => grpc.spans.some((s) => s.resource['service.name'] === 'per-signal'));
    await otlpHttp.waitFor('the log record over HTTP', () => otlpHttp.logs.some((l) => l.resource['service.name'] === 'per-signal'));
    await otlpHttp.waitFor('metrics over HTTP', () => otlpHttp.metrics.some((m) => m.resource['service.name'] === 'per-signal'));
    const encodings = (signal: SignalName) => [...new Set(otlpHttp.received.filter((r) => r.signal === signal).map((r) => r.encoding))];
    assert.deepEqual(encodings('logs'), ['protobuf']);
    assert.deepEqual(encodings('metrics'), ['json']);
    assert.deepEqual(encodings('traces'), [], 'spans went over gRPC only');
    assert.equal(grpc.countsByService['per-signal']?.logs ?? 0, 0);
  });

  it('sends OTEL_EXPORTER_OTLP_HEADERS with every export, a per-signal header overriding the shared one', async () => {
    app = await spawnApp('esm-app.mjs', {
      env: {
        OTEL_SERVICE_NAME: 'headers',
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
        OTEL_EXPORTER_OTLP_ENDPOINT: otlpHttp.endpoint,
        OTEL_EXPORTER_OTLP_HEADERS: 'x-api-key=shared-key,x-tenant=acme',
        OTEL_EXPORTER_OTLP_TRACES_HEADERS: 'x-api-key=traces-key',
      },
    });
    await hello(app, 'cy');
    await helloArrived(otlpHttp, 'headers');
    for (const signal of SIGNALS) {
      const request = otlpHttp.received.find((r) => r.signal === signal)!;
      assert.equal(request.headers['x-tenant'], 'acme', signal);
      assert.equal(request.headers['x-api-key'], signal === 'traces' ? 'traces-key' : 'shared-key', signal);
    }
  });

  it('writes spans, log records and metrics to stdout with OTEL_*_EXPORTER=console, and sends nothing over OTLP', async () => {
    app = await spawnApp('esm-app.mjs', {
      env: {
        OTEL_SERVICE_NAME: 'console-only',
        OTEL_EXPORTER_OTLP_ENDPOINT: grpc.endpoint,
        OTEL_TRACES_EXPORTER: 'console',
        OTEL_LOGS_EXPORTER: 'console',
        OTEL_METRICS_EXPORTER: 'console',
      },
    });
    await hello(app, 'di');
    const logLine = await app.waitForLine((line) => line.message === 'said hello');
    const text = await eventually(
      'the span, the log record and the duration histogram on stdout',
      async () => {
        const out = consoleText(app!);
        return out.includes("name: 'GET /hello/:name'") && out.includes("body: 'said hello'") && out.includes("name: 'http.server.request.duration'") && out;
      },
      10_000,
    );
    assert.ok(text.includes(`traceId: '${String(logLine.trace_id)}'`), 'the span and the log record carry the trace id of the log line');
    await app.stop();
    assert.equal(grpc.countsByService['console-only'], undefined);
  });

  it('exports to both with OTEL_TRACES_EXPORTER=otlp,console', async () => {
    app = await spawnApp('esm-app.mjs', {
      env: { OTEL_SERVICE_NAME: 'both', OTEL_EXPORTER_OTLP_ENDPOINT: grpc.endpoint, OTEL_TRACES_EXPORTER: 'otlp,console' },
    });
    await hello(app, 'ed');
    const span = await grpc.waitFor('the span over OTLP', () => grpc.spans.find((s) => s.resource['service.name'] === 'both'));
    await eventually('the same span on stdout', async () => consoleText(app!).includes(`traceId: '${span.traceId}'`), 10_000);
  });

  it('exports nothing of a signal set to none, and its spans still give log lines their trace id', async () => {
    app = await spawnApp('esm-app.mjs', {
      env: { OTEL_SERVICE_NAME: 'quiet', OTEL_EXPORTER_OTLP_ENDPOINT: grpc.endpoint, OTEL_TRACES_EXPORTER: 'none', OTEL_LOGS_EXPORTER: 'none' },
    });
    await hello(app, 'fa');
    const logLine = await app.waitForLine((line) => line.message === 'said hello');
    assert.match(String(logLine.trace_id), /^[0-9a-f]{32}$/);
    // Metrics still go out, so the app is exporting; then everything buffered is flushed at stop.
    await grpc.waitFor('metrics of the quiet service', () => grpc.metrics.some((m) => m.resource['service.name'] === 'quiet'));
    await app.stop();
    assert.equal(grpc.countsByService.quiet?.traces ?? 0, 0);
    assert.equal(grpc.countsByService.quiet?.logs ?? 0, 0);
  });

  it('warns once about an exporter it does not know and exports over OTLP instead', async () => {
    app = await spawnApp('esm-app.mjs', {
      env: { OTEL_SERVICE_NAME: 'zipkin-fan', OTEL_EXPORTER_OTLP_ENDPOINT: grpc.endpoint, OTEL_TRACES_EXPORTER: 'zipkin' },
    });
    await hello(app, 'gu');
    await grpc.waitFor('the span over OTLP', () => grpc.spans.some((s) => s.resource['service.name'] === 'zipkin-fan'));
    const warnings = app.stderr().split('\n').filter((line) => line.includes('OTEL_TRACES_EXPORTER'));
    assert.deepEqual(warnings, ['[lookout] warning: OTEL_TRACES_EXPORTER="zipkin" names "zipkin", not one of otlp, console, none; otlp is used']);
  });
});

describe('OTEL_METRICS_EXPORTER=prometheus (scraped by the real Prometheus binary)', function () {
  this.timeout(90_000);
  let app: RunningApp | undefined;
  let prometheus: ChildProcess | undefined;
  let output = '';
  let scratch: string;

  after(async () => {
    prometheus?.kill('SIGKILL');
    await app?.stop();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  it('serves /metrics on OTEL_EXPORTER_PROMETHEUS_HOST/_PORT, where Prometheus finds http_server_request_duration_seconds', async () => {
    const metricsPort = await freePort();
    app = await spawnApp('esm-app.mjs', {
      env: {
        OTEL_SERVICE_NAME: 'scraped',
        OTEL_METRICS_EXPORTER: 'prometheus',
        OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1',
        OTEL_EXPORTER_PROMETHEUS_PORT: String(metricsPort),
        OTEL_TRACES_EXPORTER: 'none',
        OTEL_LOGS_EXPORTER: 'none',
      },
    });
    await hello(app, 'ha');

    scratch = mkdtempSync(join(tmpdir(), 'lookout-prometheus-exporter-'));
    const promPort = await freePort();
    // JSON is YAML: a 1 s scrape of the agent's endpoint.
    const config = { global: { scrape_interval: '1s' }, scrape_configs: [{ job_name: 'agent', static_configs: [{ targets: [`127.0.0.1:${metricsPort}`] }] }] };
    writeFileSync(join(scratch, 'prometheus.yml'), JSON.stringify(config));
    prometheus = spawn(stackBinary('prometheus'), [`--config.file=${join(scratch, 'prometheus.yml')}`, `--storage.tsdb.path=${join(scratch, 'data')}`, `--web.listen-address=127.0.0.1:${promPort}`], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    prometheus.stdout!.on('data', (chunk) => (output += chunk));
    prometheus.stderr!.on('data', (chunk) => (output += chunk));
    prometheus.on('error', (err) => (output += `${err} (built by scripts/build-stack.sh)`));

    const query = encodeURIComponent('http_server_request_duration_seconds_bucket{job="agent", http_route="/hello/:name", le="+Inf"}');
    const series = await eventually(
      'the histogram in Prometheus',
      async () => {
        const res = await fetch(`http://127.0.0.1:${promPort}/api/v1/query?query=${query}`).catch(() => undefined);
        if (!res?.ok) return undefined;
        const body = (await res.json()) as { data: { result: { metric: Record<string, string>; value: [number, string] }[] } };
        return body.data.result.length > 0 ? body.data.result : undefined;
      },
      60_000,
    ).catch((err: Error) => {
      throw new Error(`${err.message}\nPrometheus said:\n${output}`);
    });
    assert.equal(series[0]!.metric.service_name, 'scraped', 'service.name on every series, as prometheus.yml promotes it');
    assert.equal(series[0]!.metric.http_request_method, 'GET');
    assert.equal(series[0]!.metric.http_response_status_code, '200');
    assert.ok(Number(series[0]!.value[1]) >= 1, 'the request is counted');
  });
});

describe('trace context chosen with OTEL_PROPAGATORS: B3 in and out, none, the default', function () {
  this.timeout(60_000);
  const receiver = new OtlpReceiver();
  const seen: http.IncomingHttpHeaders[] = [];
  const downstream = http.createServer((req, res) => {
    seen.push(req.headers);
    res.end('ok');
  });
  let downstreamUrl: string;
  let app: RunningApp | undefined;

  before(async () => {
    await receiver.start();
    await new Promise<void>((resolve) => downstream.listen(0, '127.0.0.1', resolve));
    downstreamUrl = `http://127.0.0.1:${(downstream.address() as AddressInfo).port}`;
  });
  after(async () => {
    await app?.stop();
    downstream.closeAllConnections();
    downstream.close();
    await receiver.stop();
  });
  afterEach(async () => {
    await app?.stop();
    app = undefined;
    seen.length = 0;
    receiver.reset();
  });

  /** Calls the client app with `incoming` headers; it calls the downstream through `client`. Returns what reached the downstream. */
  async function relay(client: 'http' | 'fetch', incoming: Record<string, string>): Promise<http.IncomingHttpHeaders> {
    const res = await fetch(`${app!.url}/run?client=${client}&url=${encodeURIComponent(`${downstreamUrl}/ok`)}`, { headers: incoming });
    assert.equal(((await res.json()) as { status: number }).status, 200);
    return seen.at(-1)!;
  }

  const ids = () => ({ traceId: randomBytes(16).toString('hex'), spanId: randomBytes(8).toString('hex') });

  /** The app's server span and its client span of the trace, once exported. */
  async function spansOf(traceId: string) {
    const server = await receiver.waitFor('the server span', () => receiver.spans.find((s) => s.traceId === traceId && s.kind === 'SPAN_KIND_SERVER'));
    const client = await receiver.waitFor('the client span', () => receiver.spans.find((s) => s.traceId === traceId && s.kind === 'SPAN_KIND_CLIENT'));
    return { server, client };
  }

  for (const client of ['http', 'fetch'] as const) {
    it(`continues a trace from a single b3 header and sends b3 on the outgoing ${client} call`, async () => {
      app = await spawnApp('client-app.mjs', { env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, OTEL_PROPAGATORS: 'b3' } });
      const { traceId, spanId } = ids();
      const sent = await relay(client, { b3: `${traceId}-${spanId}-1` });
      const { server, client: clientSpan } = await spansOf(traceId);
      assert.equal(server.parentSpanId, spanId, 'the server span is a child of the caller');
      assert.equal(sent.b3, `${traceId}-${clientSpan.spanId}-1`);
      assert.equal(sent.traceparent, undefined, 'no W3C header when only b3 is configured');
    });

    it(`continues a trace from X-B3-* headers and sends them on the outgoing ${client} call with b3multi`, async () => {
      app = await spawnApp('client-app.mjs', { env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, OTEL_PROPAGATORS: 'b3multi' } });
      const { traceId, spanId } = ids();
      const sent = await relay(client, { 'X-B3-TraceId': traceId, 'X-B3-SpanId': spanId, 'X-B3-Sampled': '1' });
      const { server, client: clientSpan } = await spansOf(traceId);
      assert.equal(server.parentSpanId, spanId);
      assert.equal(sent['x-b3-traceid'], traceId);
      assert.equal(sent['x-b3-spanid'], clientSpan.spanId);
      assert.equal(sent['x-b3-sampled'], '1');
      assert.equal(sent.b3, undefined);
      assert.equal(sent.traceparent, undefined);
    });
  }

  it('neither reads nor sends trace context with OTEL_PROPAGATORS=none', async () => {
    app = await spawnApp('client-app.mjs', { env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, OTEL_PROPAGATORS: 'none' } });
    const { traceId, spanId } = ids();
    const sent = await relay('http', { traceparent: `00-${traceId}-${spanId}-01` });
    assert.equal(sent.traceparent, undefined);
    assert.equal(sent.b3, undefined);
    const server = await receiver.waitFor('the server span', () => receiver.spans.find((s) => s.kind === 'SPAN_KIND_SERVER' && s.attributes['url.path'] === '/run'));
    assert.notEqual(server.traceId, traceId, 'a new trace');
  });

  it('ignores B3 headers by default (tracecontext,baggage) and sends traceparent', async () => {
    app = await spawnApp('client-app.mjs', { env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint } });
    const { traceId, spanId } = ids();
    const sent = await relay('fetch', { b3: `${traceId}-${spanId}-1` });
    assert.match(String(sent.traceparent), /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    assert.notEqual(String(sent.traceparent).split('-')[1], traceId, 'a new trace');
    assert.equal(sent.b3, undefined);
  });
});
