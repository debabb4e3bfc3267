// Errors as a real app with the agent preloaded reports them, asserted from what a real OTLP/gRPC receiver
// decoded: exception.fingerprint on span events and log records, lookout.errors with its cap, and setUser.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { OtlpReceiver, type ReceivedSpan, type RunningApp } from '@lookout/testkit';
import { fingerprint as fingerprintOf } from '../src/fingerprint.js';
import { APPS_DIR, spawnApp } from './fixtures/spawn-app.js';

describe('errors from a preloaded agent', function () {
  this.timeout(60_000);
  const receiver = new OtlpReceiver();
  let app: RunningApp;
  let capped: RunningApp;

  before(async () => {
    await receiver.start();
    [app, capped] = await Promise.all([
      spawnApp('errors-app.mjs', { env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, OTEL_SERVICE_NAME: 'errors-app' } }),
      spawnApp('errors-app.mjs', {
        env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, OTEL_SERVICE_NAME: 'errors-capped', LOOKOUT_ERRORS_MAX_FINGERPRINTS: '2' },
      }),
    ]);
  });

  after(async () => {
    await Promise.all([app?.stop(), capped?.stop()]);
    await receiver.stop();
  });

  const serverSpan = (service: string, requestId: string) =>
    receiver.waitFor(`the server span of ${requestId}`, () =>
      receiver.spans.find((s) => s.kind === 'SPAN_KIND_SERVER' && s.resource['service.name'] === service && s.attributes.request_id === requestId),
    );
  const exceptionOf = (span: ReceivedSpan) => {
    const event = span.events.find((e) => e.name === 'exception');
    assert.ok(event, `an exception event on ${span.name}`);
    return event.attributes;
  };
  /** lookout.errors of one service: `fingerprint/type` -> count. */
  const errorCounts = (service: string) => {
    const metric = receiver.metrics.filter((m) => m.name === 'lookout.errors' && m.resource['service.name'] === service).at(-1);
    return metric && Object.fromEntries(metric.points.map((p) => [`${p.attributes['exception.fingerprint']}/${p.attributes['exception.type']}`, p.value]));
  };

  it('gives the same fault with different ids one fingerprint on the span events and the log records, counted by lookout.errors', async () => {
    for (const id of ['17', '42']) {
      const res = await fetch(`${app.url}/orders/${id}`, { headers: { 'x-request-id': `req-order-${id}` } });
      assert.equal(res.status, 500);
    }
    const spans = [await serverSpan('errors-app', 'req-order-17'), await serverSpan('errors-app', 'req-order-42')];
    const [first, second] = spans.map(exceptionOf);
    assert.equal(first!['exception.type'], 'OrderNotFound');
    assert.notEqual(first!['exception.message'], second!['exception.message']);
    const fingerprint = first!['exception.fingerprint'];
    assert.match(String(fingerprint), /^[0-9a-f]{16}$/);
    assert.equal(second!['exception.fingerprint'], fingerprint);
    // The rule on the exported stack, with the app's root (where its package.json is): its frame, not the message.
    const stack = String(first!['exception.stacktrace']);
    assert.equal(fingerprintOf({ type: 'OrderNotFound', message: 'no message at all', stack }, { root: APPS_DIR }), fingerprint);

    const records = await receiver.waitFor('both error log records', () => {
      const found = receiver.logs.filter((l) => l.body === 'order lookup failed');
      return found.length === 2 ? found : undefined;
    });
    for (const record of records) {
      assert.equal(record.attributes['exception.type'], 'OrderNotFound');
      assert.equal(record.attributes['exception.fingerprint'], fingerprint, 'the log record and the span event name one fault');
    }

    const counts = await receiver.waitFor('lookout.errors at 2', () => {
      const c = errorCounts('errors-app');
      return c?.[`${fingerprint}/OrderNotFound`] === 2 ? c : undefined;
    });
    assert.deepEqual(Object.keys(counts), [`${fingerprint}/OrderNotFound`]);
    const metric = receiver.metrics.filter((m) => m.name === 'lookout.errors' && m.resource['service.name'] === 'errors-app').at(-1)!;
    assert.equal(metric.unit, '{exception}');
    assert.equal(metric.type, 'sum');
    assert.equal(metric.resource['service.version'], '1.2.3', 'the release comes with every error (resource)');
  });

  it('gives a different throw site another fingerprint', async () => {
    await (await fetch(`${app.url}/payments/9`, { headers: { 'x-request-id': 'req-payment' } })).text();
    const payment = exceptionOf(await serverSpan('errors-app', 'req-payment'));
    const order = exceptionOf(await serverSpan('errors-app', 'req-order-17'));
    assert.equal(payment['exception.type'], 'TypeError');
    assert.notEqual(payment['exception.fingerprint'], order['exception.fingerprint']);
    await receiver.waitFor('lookout.errors for the payment fault', () => errorCounts('errors-app')?.[`${payment['exception.fingerprint']}/TypeError`] === 1);
  });

  it('counts at most LOOKOUT_ERRORS_MAX_FINGERPRINTS fingerprints, the rest as _overflow', async () => {
    for (const n of ['1', '2', '3']) await (await fetch(`${capped.url}/fault/${n}`, { headers: { 'x-request-id': `req-fault-${n}` } })).text();
    const fingerprints = await Promise.all(['1', '2', '3'].map(async (n) => exceptionOf(await serverSpan('errors-capped', `req-fault-${n}`))['exception.fingerprint']));
    assert.equal(new Set(fingerprints).size, 3, 'each span event keeps its own fingerprint');
    const counts = await receiver.waitFor('three series', () => {
      const c = errorCounts('errors-capped');
      return c && Object.keys(c).length === 3 ? c : undefined;
    });
    assert.deepEqual(counts, { [`${fingerprints[0]}/RangeError`]: 1, [`${fingerprints[1]}/RangeError`]: 1, '_overflow/_overflow': 1 });
  });

  it('puts the setUser id on the server span and on the log records of the request after it', async () => {
    await (await fetch(`${app.url}/me`, { headers: { 'x-request-id': 'req-me', 'x-user': 'u-1001' } })).text();
    const server = await serverSpan('errors-app', 'req-me');
    assert.equal(server.attributes['enduser.id'], 'u-1001');
    const child = receiver.spans.find((s) => s.name === 'load user' && s.traceId === server.traceId);
    assert.equal(child?.attributes['enduser.id'], 'u-1001', 'the active span when setUser ran');
    const record = await receiver.waitFor('the log record', () => receiver.logs.find((l) => l.attributes.request_id === 'req-me'));
    assert.equal(record.attributes['enduser.id'], 'u-1001');
  });

  it('exports an e-mail address given as the user id as its pseudonym, on the span and the error log record', async () => {
    const email = 'Jane.Doe@example.com';
    await (await fetch(`${app.url}/orders/5`, { headers: { 'x-request-id': 'req-order-email', 'x-user': email } })).text();
    const pseudonym = `sha256:${createHash('sha256').update(email.toLowerCase()).digest('hex').slice(0, 16)}`;
    const server = await serverSpan('errors-app', 'req-order-email');
    assert.equal(server.attributes['enduser.id'], pseudonym);
    const record = await receiver.waitFor('the error log record', () => receiver.logs.find((l) => l.attributes.request_id === 'req-order-email'));
    assert.equal(record.attributes['enduser.id'], pseudonym);
    assert.ok(record.attributes['exception.fingerprint'], 'an error log record a user count can be taken from');
    assert.doesNotMatch(JSON.stringify([...receiver.spans, ...receiver.logs]), /jane\.doe/i);
  });
});
