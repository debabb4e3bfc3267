// Loggers an app builds with winston itself, with the agent preloaded: each line correlated with its span
// and request, and sent as an OTLP log record exactly as upstream's instrumentation would send it
// (LOOKOUT_UPSTREAM_INSTRUMENTATIONS=winston), while the app's own lines stay what they were.
import assert from 'node:assert/strict';
import { OtlpReceiver, type ReceivedLog } from './fixtures/otlp-receiver.js';
import { spawnApp, type RunningApp } from './fixtures/spawn-app.js';

describe("an app's own winston logger", function () {
  this.timeout(60_000);
  const receiver = new OtlpReceiver();
  let ours: RunningApp;
  let upstream: RunningApp;
  let plain: RunningApp;

  before(async () => {
    await receiver.start();
    const env = { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint };
    [ours, upstream, plain] = await Promise.all([
      spawnApp('winston-app.mjs', { env: { ...env, OTEL_SERVICE_NAME: 'winston-ours' } }),
      spawnApp('winston-app.mjs', { env: { ...env, OTEL_SERVICE_NAME: 'winston-upstream', LOOKOUT_UPSTREAM_INSTRUMENTATIONS: 'winston' } }),
      spawnApp('winston-app.mjs', { agent: false }),
    ]);
  });

  after(async () => {
    await Promise.all([ours?.stop(), upstream?.stop(), plain?.stop()]);
    await receiver.stop();
  });

  const recordsOf = (service: string, tag: string) => receiver.logs.filter((l) => l.resource['service.name'] === service && l.attributes.tag === tag || (l.resource['service.name'] === service && l.body === `warned ${tag}`));
  async function logThrough(app: RunningApp, service: string, tag: string): Promise<ReceivedLog[]> {
    assert.equal((await fetch(`${app.url}/log?tag=${tag}`, { headers: { 'x-request-id': `req-${tag}` } })).status, 200);
    return receiver.waitFor(`4 records from ${service}`, () => {
      const got = recordsOf(service, tag);
      return got.length >= 4 ? got : undefined;
    });
  }

  it('sends each line the logger writes as a record tied to the server span, and nothing the logger drops', async () => {
    const records = await logThrough(ours, 'winston-ours', 'a');
    const span = await receiver.waitFor('the server span', () => receiver.spans.find((s) => s.resource['service.name'] === 'winston-ours' && s.attributes.request_id === 'req-a'));
    assert.deepEqual(records.map((r) => r.body).sort(), ['failed', 'from a child', 'handled', 'warned a']);
    for (const record of records) {
      assert.equal(record.traceId, span.traceId);
      assert.equal(record.spanId, span.spanId);
      assert.equal(record.attributes.request_id, 'req-a');
      assert.equal(record.attributes.trace_id, undefined, 'correlation fields are the record’s ids, not attributes');
    }
    const handled = records.find((r) => r.body === 'handled')!;
    assert.equal(handled.severityText, 'info');
    assert.equal(handled.severityNumber, 'SEVERITY_NUMBER_INFO');
    assert.equal(handled.attributes.count, 3);
    assert.deepEqual(handled.attributes.nested, { ok: true });
    assert.equal(handled.attributes.api_key, '[REDACTED]');
    const failed = records.find((r) => r.body === 'failed')!;
    assert.equal(failed.severityNumber, 'SEVERITY_NUMBER_ERROR');
    assert.equal(failed.attributes['exception.type'], 'TypeError');
    assert.equal(failed.attributes['exception.message'], 'bad input');
    assert.equal(records.find((r) => r.body === 'from a child')!.attributes.component, 'child');
  });

  it('puts trace_id, span_id and request_id on the stdout line, which is otherwise what the app writes without the agent', async () => {
    await logThrough(ours, 'winston-ours', 'b');
    const line = await ours.waitForLine((l) => l.message === 'handled' && l.tag === 'b');
    assert.match(String(line.trace_id), /^[0-9a-f]{32}$/);
    assert.match(String(line.span_id), /^[0-9a-f]{16}$/);
    assert.equal(line.trace_flags, '01');
    assert.equal(line.request_id, 'req-b');
    assert.equal(line.api_key, 'k-secret-1', "the app's own line is the app's business: only what leaves through OTLP is redacted");

    assert.equal((await fetch(`${plain.url}/log?tag=b`)).status, 200);
    const plainLine = await plain.waitForLine((l) => l.message === 'handled' && l.tag === 'b');
    const strip = (l: Record<string, unknown>) => {
      const { trace_id: _t, span_id: _s, trace_flags: _f, request_id: _r, timestamp: _ts, ...rest } = l;
      return rest;
    };
    assert.deepEqual(strip(line), strip(plainLine));
    const messages = (app: RunningApp) => app.lines.filter((l): l is Record<string, unknown> => typeof l === 'object' && l.tag === 'b' || (typeof l === 'object' && l.message === 'warned b')).map((l) => l.message);
    assert.deepEqual(messages(ours), messages(plain), 'the same lines, nothing added or dropped');
  });

  it('sends the same records as the upstream instrumentation', async () => {
    const [mine, theirs] = await Promise.all([logThrough(ours, 'winston-ours', 'c'), logThrough(upstream, 'winston-upstream', 'c')]);
    const shape = (r: ReceivedLog) => {
      const { trace_id: _t, span_id: _s, trace_flags: _f, timestamp: _ts, ...attributes } = r.attributes;
      delete attributes['exception.stacktrace'];
      return { body: r.body, severityText: r.severityText, severityNumber: r.severityNumber, attributes, correlated: r.traceId !== '' && r.spanId !== '' };
    };
    const sorted = (rs: ReceivedLog[]) => rs.map(shape).sort((a, b) => String(a.body).localeCompare(String(b.body)));
    assert.deepEqual(sorted(mine), sorted(theirs));
  });
});
