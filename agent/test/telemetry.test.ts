// What a service gets from `--import @lookout/agent/register`, asserted from what a real OTLP/gRPC
// receiver decoded: spans, metrics and log records, across an ESM (Koa) and a CommonJS (http) app.
import assert from 'node:assert/strict';
import { OtlpReceiver, type ReceivedSpan, type RunningApp } from '@lookout/testkit';
import { spawnApp } from './fixtures/spawn-app.js';

const DATABASE_URL = process.env.LOOKOUT_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

describe('telemetry from a preloaded agent', function () {
  this.timeout(60_000);
  const receiver = new OtlpReceiver();
  let esm: RunningApp;
  let cjs: RunningApp;

  before(async () => {
    await receiver.start();
    cjs = await spawnApp('cjs-app.cjs', {
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, OTEL_SERVICE_NAME: 'downstream' },
    });
    esm = await spawnApp('esm-app.mjs', {
      env: {
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
        OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment.name=test,team=core%20platform',
        DATABASE_URL,
        DOWNSTREAM_URL: cjs.url,
      },
    });
    // The CommonJS app relays to the ESM one, which it learns about only now.
    await cjs.stop();
    cjs = await spawnApp('cjs-app.cjs', {
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, OTEL_SERVICE_NAME: 'downstream', UPSTREAM_URL: esm.url, PORT: String(cjs.port) },
    });
  });

  after(async () => {
    await Promise.all([esm?.stop(), cjs?.stop()]);
    await receiver.stop();
  });

  const serverSpan = (service: string, route: string, requestId?: string) => (span: ReceivedSpan) =>
    span.kind === 'SPAN_KIND_SERVER' &&
    span.resource['service.name'] === service &&
    span.attributes['http.route'] === route &&
    (requestId === undefined || span.attributes.request_id === requestId);

  it('exports a server span named by method and route, with status code, request id and resource', async () => {
    const res = await fetch(`${esm.url}/hello/ann`, { headers: { 'x-request-id': 'req-hello-1' } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-request-id'), 'req-hello-1', 'the incoming request id is echoed');

    const span = await receiver.waitFor('the /hello/:name server span', () => receiver.spans.find(serverSpan('fixture-shop', '/hello/:name', 'req-hello-1')));
    assert.equal(span.name, 'GET /hello/:name');
    assert.equal(span.attributes['http.request.method'], 'GET');
    assert.equal(span.attributes['http.response.status_code'], 200);
    assert.equal(span.attributes['url.path'], '/hello/ann');
    assert.equal(span.status.code, 'STATUS_CODE_UNSET');
    assert.equal(span.resource['service.version'], '1.2.3', 'service.version comes from the app package.json');
    assert.equal(span.resource['deployment.environment.name'], 'test');
    assert.equal(span.resource.team, 'core platform');
    assert.match(String(span.resource['service.instance.id']), /^[0-9a-f-]{36}$/);
    assert.ok(span.resource['host.name'] && span.resource['process.pid'], 'host and process attributes');
    // Koa's middleware and router layers add no spans: the route is on the server span itself.
    const children = receiver.spans.filter((s) => s.traceId === span.traceId && s.parentSpanId === span.spanId);
    assert.deepEqual(children.map((s) => s.name), []);
  });

  it('takes client.address from X-Forwarded-For and keeps the proxy as network.peer.address', async () => {
    await (await fetch(`${esm.url}/hello/px`, { headers: { 'x-request-id': 'req-proxied', 'x-forwarded-for': '203.0.113.7, 10.0.0.2' } })).text();
    const span = await receiver.waitFor('the proxied span', () => receiver.spans.find(serverSpan('fixture-shop', '/hello/:name', 'req-proxied')));
    assert.equal(span.attributes['client.address'], '203.0.113.7');
    assert.equal(span.attributes['network.peer.address'], '127.0.0.1');
    const direct = receiver.spans.find(serverSpan('fixture-shop', '/hello/:name', 'req-hello-1'))!;
    assert.equal(direct.attributes['client.address'], '127.0.0.1');
    assert.equal(direct.attributes['network.peer.address'], undefined, 'not repeated when it is the client itself');
  });

  it('records the exception and an error status on the server span of a 5xx', async () => {
    const res = await fetch(`${esm.url}/fail`, { headers: { 'x-request-id': 'req-fail' } });
    assert.equal(res.status, 500);
    assert.equal(res.headers.get('x-request-id'), 'req-fail', 'kept on error responses, which Koa strips of headers');
    const span = await receiver.waitFor('the /fail server span', () => receiver.spans.find(serverSpan('fixture-shop', '/fail', 'req-fail')));
    assert.equal(span.status.code, 'STATUS_CODE_ERROR');
    assert.equal(span.attributes['error.type'], '500');
    const exception = span.events.find((e) => e.name === 'exception');
    assert.ok(exception, 'an exception event on the server span');
    assert.equal(exception.attributes['exception.type'], 'Error');
    assert.equal(exception.attributes['exception.message'], 'kaboom');
    assert.match(String(exception.attributes['exception.stacktrace']), /esm-app\.mjs/);
  });

  it('carries one trace id across two services through traceparent (fetch out of ESM, http out of CommonJS)', async () => {
    const res = await fetch(`${esm.url}/chain`, { headers: { 'x-request-id': 'req-chain' } });
    assert.equal(res.status, 200);
    const upstream = await receiver.waitFor('the /chain span', () => receiver.spans.find(serverSpan('fixture-shop', '/chain', 'req-chain')));
    const downstream = await receiver.waitFor('the downstream server span in the same trace', () =>
      receiver.spans.find((s) => s.resource['service.name'] === 'downstream' && s.kind === 'SPAN_KIND_SERVER' && s.traceId === upstream.traceId),
    );
    const client = receiver.spans.find((s) => s.spanId === downstream.parentSpanId);
    assert.ok(client, 'the downstream span is a child of a client span');
    assert.equal(client.kind, 'SPAN_KIND_CLIENT');
    assert.equal(client.resource['service.name'], 'fixture-shop');
    assert.equal(client.traceId, upstream.traceId);

    const relay = await fetch(`${cjs.url}/relay`);
    assert.equal(await relay.text(), 'relayed');
    const relaySpan = await receiver.waitFor('the CommonJS /relay server span', () =>
      receiver.spans.find((s) => s.resource['service.name'] === 'downstream' && s.kind === 'SPAN_KIND_SERVER' && s.attributes['url.path'] === '/relay'),
    );
    await receiver.waitFor('the ESM server span under the CommonJS http client span', () =>
      receiver.spans.find(serverSpan('fixture-shop', '/hello/:name')) &&
      receiver.spans.find((s) => s.traceId === relaySpan.traceId && s.resource['service.name'] === 'fixture-shop' && s.kind === 'SPAN_KIND_SERVER'),
    );
  });

  it('traces a knex query on pg as one pg span under the server span', async () => {
    const res = await fetch(`${esm.url}/db`, { headers: { 'x-request-id': 'req-db' } });
    assert.deepEqual(await res.json(), { two: 2 });
    const server = await receiver.waitFor('the /db span', () => receiver.spans.find(serverSpan('fixture-shop', '/db', 'req-db')));
    // The server span ends after the response: every span of the request has been exported by now.
    // knex's own `select version();` on a new connection is a database call too, but not the route's.
    const db = receiver.spans.filter((s) => s.traceId === server.traceId && s.spanId !== server.spanId && s.attributes['db.query.text'] !== 'select version();');
    assert.deepEqual(db.map((s) => [s.scope, s.kind, s.name, s.parentSpanId]), [['@lookout/agent/pg', 'SPAN_KIND_CLIENT', 'SELECT', server.spanId]]);
    assert.equal(db[0]!.attributes['db.query.text'], 'select 1 + 1 as two');
    assert.equal(db[0]!.attributes['db.system.name'], 'postgresql');
    assert.equal(db[0]!.attributes['server.address'], '127.0.0.1');
  });

  it('exports http.server.request.duration in seconds with route, method and status, on SLO buckets', async () => {
    const metric = await receiver.waitFor('http.server.request.duration for /hello/:name', () => {
      const m = receiver.metric('http.server.request.duration');
      return m?.resource['service.name'] === 'fixture-shop' && m.points.some((p) => p.attributes['http.route'] === '/hello/:name') ? m : undefined;
    });
    assert.equal(metric.unit, 's');
    assert.equal(metric.type, 'histogram');
    assert.equal(metric.temporality, 'AGGREGATION_TEMPORALITY_CUMULATIVE');
    const point = metric.points.find((p) => p.attributes['http.route'] === '/hello/:name')!;
    assert.equal(point.attributes['http.request.method'], 'GET');
    assert.equal(point.attributes['http.response.status_code'], 200);
    assert.ok(point.count! >= 2);
    assert.ok(point.sum! > 0 && point.sum! < 5, `a duration in seconds, got sum ${point.sum}`);
    assert.deepEqual(point.explicitBounds, [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2, 2.5, 5, 7.5, 10]);
    const failed = metric.points.find((p) => p.attributes['http.route'] === '/fail');
    assert.equal(failed?.attributes['error.type'], '500');
  });

  it('exports runtime and process metrics: event loop, heap, GC, CPU and RSS', async () => {
    const wanted = [
      'nodejs.eventloop.delay.p99',
      'nodejs.eventloop.utilization',
      'v8js.memory.heap.used',
      'v8js.gc.duration',
      'process.cpu.time',
      'process.memory.usage',
    ];
    await receiver.waitFor(`runtime metrics ${wanted.join(', ')}`, () =>
      wanted.every((name) => receiver.metrics.some((m) => m.name === name && m.resource['service.name'] === 'fixture-shop')),
    );
    assert.equal(receiver.metric('process.cpu.time')!.unit, 's');
    assert.deepEqual(new Set(receiver.metric('process.cpu.time')!.points.map((p) => p.attributes['cpu.mode'])), new Set(['user', 'system']));
    assert.ok(receiver.metric('process.memory.usage')!.points[0]!.value! > 10 * 1024 * 1024, 'RSS in bytes');
  });

  it('sends log records correlated with the span, and the same trace id on the stdout JSON line', async () => {
    await fetch(`${esm.url}/hello/cy`, { headers: { 'x-request-id': 'req-log' } });
    const span = await receiver.waitFor('the span', () => receiver.spans.find(serverSpan('fixture-shop', '/hello/:name', 'req-log')));
    const record = await receiver.waitFor('the log record', () => receiver.logs.find((l) => l.attributes.request_id === 'req-log'));
    assert.equal(record.body, 'said hello');
    assert.equal(record.severityNumber, 'SEVERITY_NUMBER_INFO');
    assert.equal(record.traceId, span.traceId);
    assert.equal(record.spanId, span.spanId, 'the log record belongs to the active span');
    assert.equal(record.resource['service.name'], 'fixture-shop');

    const line = await esm.waitForLine((l) => l.request_id === 'req-log');
    assert.equal(line.trace_id, span.traceId);
    assert.equal(line.span_id, span.spanId);
    assert.equal(line['service.name'], 'fixture-shop');
    assert.equal(line.level, 'info');
    assert.equal(line.message, 'said hello');
    assert.equal(line.user, 'cy');
    assert.match(String(line.timestamp), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  });

  it('correlates a winston logger the app built itself', async () => {
    const res = await fetch(`${cjs.url}/work`, { headers: { 'x-request-id': 'req-cjs' } });
    assert.equal(res.status, 200);
    const span = await receiver.waitFor('the CommonJS server span', () =>
      receiver.spans.find((s) => s.resource['service.name'] === 'downstream' && s.attributes.request_id === 'req-cjs'),
    );
    const record = await receiver.waitFor('its log record', () => receiver.logs.find((l) => l.body === 'working' && l.traceId === span.traceId));
    assert.equal(record.spanId, span.spanId);
    assert.equal(record.attributes.request_id, 'req-cjs');
    await cjs.waitForLine((l) => l.message === 'working' && l.trace_id === span.traceId);
  });

  it('redacts secrets in log fields, log records and span attributes before export', async () => {
    await fetch(`${esm.url}/hello/dee?token=abcd1234&page=2`, { headers: { 'x-request-id': 'req-secret' } });
    const span = await receiver.waitFor('the span', () => receiver.spans.find(serverSpan('fixture-shop', '/hello/:name', 'req-secret')));
    assert.equal(span.attributes['url.query'], 'token=[REDACTED]&page=2');
    assert.equal(span.attributes['user.api_key'], '[REDACTED]', 'an attribute the app set through the API');

    const record = await receiver.waitFor('the log record', () => receiver.logs.find((l) => l.attributes.request_id === 'req-secret'));
    assert.equal(record.attributes.password, '[REDACTED]');
    assert.equal(record.attributes.note, 'Authorization: Bearer [REDACTED]');
    const line = await esm.waitForLine((l) => l.request_id === 'req-secret');
    assert.equal(line.password, '[REDACTED]');
    assert.doesNotMatch(JSON.stringify(esm.lines), /hunter2|abcdefghijklmnop|sk-live/);

    const appLogger = await receiver.waitFor('the CommonJS record', () => receiver.logs.find((l) => l.body === 'working'));
    assert.equal(appLogger.attributes.secret_token, '[REDACTED]', "an app-built logger's OTLP records are redacted too");
  });

  it('exports the service instruments: queue depth, processing duration and pool gauges, named by convention', async () => {
    await (await fetch(`${esm.url}/charge/ok`)).text();
    await (await fetch(`${esm.url}/charge/declined`)).text();
    const duration = await receiver.waitFor('lookout.shop.processing.duration with both outcomes', () => {
      const m = receiver.metric('lookout.shop.processing.duration');
      return m && m.points.length >= 2 ? m : undefined;
    });
    assert.equal(duration.unit, 's');
    assert.deepEqual(new Set(duration.points.map((p) => `${p.attributes.operation}/${p.attributes.outcome}`)), new Set(['charge/success', 'charge/failure']));
    const depth = await receiver.waitFor('lookout.shop.queue.depth', () => receiver.metric('lookout.shop.queue.depth'));
    assert.deepEqual(depth.points.map((p) => [p.attributes.queue, p.value]), [['emails', 3]]);
    const connections = await receiver.waitFor('db.client.connection.count', () => receiver.metric('db.client.connection.count'));
    assert.deepEqual(
      connections.points.map((p) => [p.attributes['db.client.connection.pool.name'], p.attributes['db.client.connection.state'], p.value]).sort(),
      [['orders-db', 'idle', 1], ['orders-db', 'used', 1]],
    );
    assert.equal(receiver.metric('db.client.connection.max')?.points[0]?.value, 2);
  });
});
