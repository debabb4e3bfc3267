// The headers a preloaded agent adds to responses: none by default (a caller's own x-request-id goes back,
// nothing else), and what LOOKOUT_RESPONSE_HEADERS lists (x-request-id, W3C traceresponse), with the agent's
// server span and with upstream's. Asserted on real responses and on the spans a real OTLP receiver decoded.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { OtlpReceiver, type ReceivedSpan, type RunningApp } from '@lookout/testkit';
import { loadConfig } from '../src/config.js';
import { spawnApp } from './fixtures/spawn-app.js';

const APP = 'headers-app.mjs';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

interface Answer {
  status: number;
  headers: Record<string, string>;
}

/** Status and headers of one response, without `date`, which changes from one second to the next. */
async function answer(url: string, init: RequestInit = {}): Promise<Answer> {
  const res = await fetch(url, init);
  await res.arrayBuffer();
  const headers = Object.fromEntries(res.headers);
  delete headers.date;
  return { status: res.status, headers };
}

function traceparent(): { traceId: string; callerSpanId: string; header: string } {
  const traceId = randomBytes(16).toString('hex');
  const callerSpanId = randomBytes(8).toString('hex');
  return { traceId, callerSpanId, header: `00-${traceId}-${callerSpanId}-01` };
}

describe('response headers from a preloaded agent', function () {
  this.timeout(60_000);
  const receiver = new OtlpReceiver();

  before(() => receiver.start());
  after(() => receiver.stop());

  const serverSpan = (service: string, match: (span: ReceivedSpan) => boolean) => () =>
    receiver.spans.find((s) => s.kind === 'SPAN_KIND_SERVER' && s.resource['service.name'] === service && match(s));

  describe('by default (LOOKOUT_RESPONSE_HEADERS unset)', () => {
    let bare: RunningApp;
    let agent: RunningApp;

    before(async () => {
      [bare, agent] = await Promise.all([
        spawnApp(APP, { agent: false }),
        spawnApp(APP, { env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, OTEL_SERVICE_NAME: 'headers-default' } }),
      ]);
    });
    after(() => Promise.all([bare?.stop(), agent?.stop()]));

    it('adds no header to any response: each is exactly what the app sends without the agent', async () => {
      const requests: Array<[string, string]> = [['GET', '/hello'], ['HEAD', '/hello'], ['GET', '/fail'], ['GET', '/raw'], ['GET', '/nowhere']];
      for (const [method, path] of requests) {
        assert.deepEqual(await answer(`${agent.url}${path}`, { method }), await answer(`${bare.url}${path}`, { method }), `${method} ${path}`);
      }
      // And not only by accident of the request: a traceparent sent in gets nothing back either.
      const sent = { headers: { traceparent: traceparent().header } };
      assert.deepEqual(await answer(`${agent.url}/hello`, sent), await answer(`${bare.url}/hello`, sent));
    });

    it('still makes a request id for the span when the caller sent none', async () => {
      const { traceId, header } = traceparent();
      const res = await answer(`${agent.url}/hello`, { headers: { traceparent: header } });
      assert.equal(res.headers['x-request-id'], undefined);
      const span = await receiver.waitFor('the server span', serverSpan('headers-default', (s) => s.traceId === traceId));
      assert.match(String(span.attributes.request_id), UUID);
    });

    it("echoes the caller's own x-request-id, on Koa's error responses too", async () => {
      assert.equal((await answer(`${agent.url}/hello`, { headers: { 'x-request-id': 'req-default-1' } })).headers['x-request-id'], 'req-default-1');
      const failed = await answer(`${agent.url}/fail`, { headers: { 'x-request-id': 'req-default-fail' } });
      assert.equal(failed.status, 500);
      assert.equal(failed.headers['x-request-id'], 'req-default-fail', 'kept although Koa clears all headers before an error response');
      assert.equal(failed.headers.traceresponse, undefined);
      await receiver.waitFor('the span with the caller’s id', serverSpan('headers-default', (s) => s.attributes.request_id === 'req-default-fail'));
    });

    it('neither echoes nor keeps an x-request-id it would not put in logs', async () => {
      const { traceId, header } = traceparent();
      const res = await answer(`${agent.url}/hello`, { headers: { traceparent: header, 'x-request-id': 'has spaces; and more' } });
      assert.equal(res.headers['x-request-id'], undefined);
      const span = await receiver.waitFor('the server span', serverSpan('headers-default', (s) => s.traceId === traceId));
      assert.match(String(span.attributes.request_id), UUID, 'replaced by a made one');
    });
  });

  for (const upstream of [false, true]) {
    const service = upstream ? 'headers-upstream' : 'headers-ours';
    describe(`with LOOKOUT_RESPONSE_HEADERS=traceresponse,x-request-id and ${upstream ? "upstream's server span (LOOKOUT_UPSTREAM_INSTRUMENTATIONS=http)" : "the agent's own server span"}`, () => {
      let app: RunningApp;

      before(async () => {
        app = await spawnApp(APP, {
          env: {
            OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
            OTEL_SERVICE_NAME: service,
            LOOKOUT_RESPONSE_HEADERS: 'traceresponse,x-request-id',
            ...(upstream ? { LOOKOUT_UPSTREAM_INSTRUMENTATIONS: 'http' } : {}),
          },
        });
      });
      after(() => app?.stop());

      it('sets x-request-id on every response, the one the span carries, made when the caller sent none', async () => {
        for (const [method, path, status] of [['GET', '/hello', 200], ['HEAD', '/hello', 200], ['GET', '/fail', 500], ['GET', '/raw', 204]] as const) {
          const { traceId, header } = traceparent();
          const res = await answer(`${app.url}${path}`, { method, headers: { traceparent: header } });
          assert.equal(res.status, status, `${method} ${path}`);
          const requestId = res.headers['x-request-id'];
          assert.match(String(requestId), UUID, `${method} ${path}`);
          const span = await receiver.waitFor(`the ${method} ${path} span`, serverSpan(service, (s) => s.traceId === traceId));
          assert.equal(span.attributes.request_id, requestId);
        }
        const sent = await answer(`${app.url}/hello`, { headers: { 'x-request-id': 'req-listed' } });
        assert.equal(sent.headers['x-request-id'], 'req-listed');
      });

      it('sets traceresponse to the trace id, span id and sampled flag of the server span that answered', async () => {
        for (const [path, status] of [['/hello', 200], ['/fail', 500], ['/raw', 204]] as const) {
          const { traceId, callerSpanId, header } = traceparent();
          const res = await answer(`${app.url}${path}`, { headers: { traceparent: header } });
          assert.equal(res.status, status);
          const span = await receiver.waitFor(`the ${path} span`, serverSpan(service, (s) => s.traceId === traceId));
          assert.equal(span.parentSpanId, callerSpanId);
          assert.equal(res.headers.traceresponse, `00-${traceId}-${span.spanId}-01`, path);
        }
        // A new trace when the caller sent none: the header is how the caller learns its id.
        const res = await answer(`${app.url}/hello`, { headers: { 'x-request-id': `req-${service}-new-trace` } });
        const span = await receiver.waitFor('the span of a new trace', serverSpan(service, (s) => s.attributes.request_id === `req-${service}-new-trace`));
        assert.equal(span.parentSpanId, '');
        assert.equal(res.headers.traceresponse, `00-${span.traceId}-${span.spanId}-01`);
      });

      it('leaves an x-request-id and a traceresponse the app set itself as the app set them', async () => {
        const res = await answer(`${app.url}/own`, { headers: { 'x-request-id': 'req-from-caller', traceparent: traceparent().header } });
        assert.equal(res.headers['x-request-id'], 'the-app-s-own-id');
        assert.equal(res.headers.traceresponse, '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
      });
    });
  }

  it('marks the traceresponse of a request that was not sampled with flags 00', async () => {
    const app = await spawnApp(APP, {
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, OTEL_SERVICE_NAME: 'headers-unsampled', LOOKOUT_RESPONSE_HEADERS: 'traceresponse', OTEL_TRACES_SAMPLER: 'always_off' },
    });
    try {
      const { traceId, callerSpanId, header } = traceparent();
      const res = await answer(`${app.url}/hello`, { headers: { traceparent: header } });
      const match = /^00-([0-9a-f]{32})-([0-9a-f]{16})-00$/.exec(res.headers.traceresponse ?? '');
      assert.ok(match, `traceresponse: ${res.headers.traceresponse}`);
      assert.equal(match[1], traceId, 'the trace continues');
      assert.notEqual(match[2], callerSpanId, "the server's own span id, not the caller's");
      assert.equal(res.headers['x-request-id'], undefined, 'x-request-id was not listed, and the caller sent none');
    } finally {
      await app.stop();
    }
  });

  it('reads the list case-insensitively, warns once about a name it does not know and ignores that name', async () => {
    const app = await spawnApp(APP, {
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, OTEL_SERVICE_NAME: 'headers-typo', LOOKOUT_RESPONSE_HEADERS: 'TraceResponse, x-trace-id' },
    });
    try {
      const first = await answer(`${app.url}/hello`);
      const second = await answer(`${app.url}/fail`);
      assert.match(first.headers.traceresponse ?? '', /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
      assert.match(second.headers.traceresponse ?? '', /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
      assert.equal(first.headers['x-request-id'], undefined);
      assert.equal(first.headers['x-trace-id'], undefined);
      const warnings = app.stderr().split('\n').filter((line) => line.includes('LOOKOUT_RESPONSE_HEADERS'));
      assert.equal(warnings.length, 1, app.stderr());
      assert.match(warnings[0]!, /^\[lookout\] warning: LOOKOUT_RESPONSE_HEADERS names "x-trace-id", which is not one of traceresponse, x-request-id or none; ignored$/);
    } finally {
      await app.stop();
    }
  });

  it('takes none, or nothing at all, as the default, and none over anything listed with it', () => {
    const headers = (value: string | undefined) => [...loadConfig({ LOOKOUT_RESPONSE_HEADERS: value }, fileURLToPath(import.meta.url)).responseHeaders].sort();
    assert.deepEqual(headers(undefined), []);
    assert.deepEqual(headers(''), []);
    assert.deepEqual(headers('None'), []);
    assert.deepEqual(headers('none,traceresponse'), []);
    assert.deepEqual(headers(' X-Request-Id ,traceresponse'), ['traceresponse', 'x-request-id']);
  });
});
