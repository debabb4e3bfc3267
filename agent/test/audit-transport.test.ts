// The audit client's transport against a fake fetch: one batch request, and what each kind of answer (or
// none) comes back as.
import assert from 'node:assert/strict';
import { context, ROOT_CONTEXT, trace, TraceFlags } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { isTracingSuppressed } from '@opentelemetry/core';
import { batchEndpoint, createTransport, type SendResult } from '../src/audit/transport.js';

const ENDPOINT = 'http://audit.test/api/v1/activity/batch';

interface Call {
  url: string;
  init: RequestInit;
  suppressed: boolean;
  spanId: string | undefined;
}

/** A fetch that records each call and answers with `answer(init)`. */
function fakeFetch(answer: (init: RequestInit) => Response | Promise<Response>): { fetch: typeof globalThis.fetch; calls: Call[] } {
  const calls: Call[] = [];
  const fetch = (async (url: string | URL | Request, init?: RequestInit) => {
    calls.push({ url: String(url), init: init!, suppressed: isTracingSuppressed(context.active()), spanId: trace.getSpanContext(context.active())?.spanId });
    return answer(init!);
  }) as typeof globalThis.fetch;
  return { fetch, calls };
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });

/** Sends two events through a transport on `fetch` and returns what came back. */
function send(fetch: typeof globalThis.fetch, timeoutMs = 5000): Promise<SendResult> {
  return createTransport({ endpoint: ENDPOINT, timeoutMs, fetch }).send('tok-1', ['{"id":"a"}', '{"id":"b"}']);
}

describe('the audit transport', () => {
  const manager = new AsyncLocalStorageContextManager();
  before(() => context.setGlobalContextManager(manager.enable()));
  after(() => context.disable());

  it('POSTs the events as one batch with the bearer token, JSON content type, Prefer: return=minimal and its user agent', async () => {
    const { fetch, calls } = fakeFetch(() => json(201, { data: [] }));
    const result = await send(fetch);
    assert.equal(calls.length, 1);
    const [{ url, init }] = calls as [Call];
    assert.equal(url, ENDPOINT);
    assert.equal(init.method, 'POST');
    assert.deepEqual(init.headers, { authorization: 'Bearer tok-1', 'content-type': 'application/json', prefer: 'return=minimal', 'user-agent': '@lookout/agent audit client' });
    assert.equal(init.body, '{"events":[{"id":"a"},{"id":"b"}]}');
    assert.deepEqual(JSON.parse(init.body as string), { events: [{ id: 'a' }, { id: 'b' }] });
    assert.equal(init.redirect, 'manual', 'a redirect is reported, not followed with the token');
    assert.ok(init.signal instanceof AbortSignal);
    assert.deepEqual(result, { answered: true, status: 201, error: {}, said: '201', retryAfterMs: undefined, location: undefined });
  });

  it('sends with tracing suppressed and outside the caller’s span', async () => {
    const { fetch, calls } = fakeFetch(() => json(201, { data: [] }));
    const span = trace.wrapSpanContext({ traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: TraceFlags.SAMPLED });
    await context.with(trace.setSpan(ROOT_CONTEXT, span), () => send(fetch));
    assert.equal(calls[0]!.suppressed, true);
    assert.equal(calls[0]!.spanId, undefined);
  });

  it('reads a 4xx error body into code, field and message, and says it in one line', async () => {
    const error = { code: 'invalid_metadata', message: 'reason must be one of …', field: 'events[1].metadata.reason' };
    const result = await send(fakeFetch(() => json(400, { error })).fetch);
    assert.deepEqual(result, {
      answered: true,
      status: 400,
      error,
      said: '400 invalid_metadata at events[1].metadata.reason: reason must be one of …',
      retryAfterMs: undefined,
      location: undefined,
    });
  });

  it('answers a 413 from a proxy, with no JSON error body, with the status alone', async () => {
    const result = await send(fakeFetch(() => new Response('<html>Request Entity Too Large</html>', { status: 413 })).fetch);
    assert.deepEqual(result, { answered: true, status: 413, error: {}, said: '413', retryAfterMs: undefined, location: undefined });
    const fields = await send(fakeFetch(() => json(413, { error: { code: 'batch_too_large', field: 'events', message: 42 } })).fetch);
    assert.deepEqual(fields.answered && fields.error, { code: 'batch_too_large', field: 'events', message: undefined }, 'a field that is no string is left out');
  });

  it('reads Retry-After as seconds or as an HTTP date', async () => {
    const rateLimited = await send(fakeFetch(() => json(429, { error: { code: 'rate_limited', message: 'slow down' } }, { 'retry-after': '2' })).fetch);
    assert.ok(rateLimited.answered);
    assert.equal(rateLimited.retryAfterMs, 2000);
    assert.equal(rateLimited.said, '429 rate_limited: slow down');

    const at = new Date(Date.now() + 10_000).toUTCString();
    const unavailable = await send(fakeFetch(() => json(503, {}, { 'retry-after': at })).fetch);
    assert.ok(unavailable.answered);
    assert.equal(unavailable.status, 503);
    assert.ok(unavailable.retryAfterMs! > 8000 && unavailable.retryAfterMs! <= 10_000, `${unavailable.retryAfterMs} ms until ${at}`);

    const past = await send(fakeFetch(() => json(503, {}, { 'retry-after': new Date(Date.now() - 60_000).toUTCString() })).fetch);
    assert.equal(past.answered && past.retryAfterMs, 0, 'a date in the past means now');
    for (const value of ['soon', ' ', '']) {
      const unreadable = await send(fakeFetch(() => json(503, {}, { 'retry-after': value })).fetch);
      assert.equal(unreadable.answered && unreadable.retryAfterMs, undefined, JSON.stringify(value));
    }
  });

  it('gives a redirect’s location', async () => {
    const result = await send(fakeFetch(() => new Response(null, { status: 308, headers: { location: 'https://audit.test/' } })).fetch);
    assert.deepEqual(result, { answered: true, status: 308, error: {}, said: '308', retryAfterMs: undefined, location: 'https://audit.test/' });
  });

  it('describes a network error by its cause’s code, and never rejects', async () => {
    const refused = await send(fakeFetch(() => Promise.reject(new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }) }))).fetch);
    assert.deepEqual(refused, { answered: false, reason: 'ECONNREFUSED' });
    const noCode = await send(fakeFetch(() => Promise.reject(new TypeError('fetch failed', { cause: new Error('other side closed') }))).fetch);
    assert.deepEqual(noCode, { answered: false, reason: 'other side closed' });
    const thrown = await send((() => {
      throw new Error('fetch is broken');
    }) as typeof globalThis.fetch);
    assert.deepEqual(thrown, { answered: false, reason: 'fetch is broken' });
  });

  it('gives up after timeoutMs, whether the answer or its body is late', async () => {
    const untilAborted = (init: RequestInit) => new Promise<never>((_, reject) => init.signal!.addEventListener('abort', () => reject(init.signal!.reason)));
    const started = Date.now();
    assert.deepEqual(await send(fakeFetch(untilAborted).fetch, 50), { answered: false, reason: 'no answer within 50 ms' });
    assert.ok(Date.now() - started < 2000, `took ${Date.now() - started} ms`);

    const slowBody = (init: RequestInit) =>
      new Response(new ReadableStream({ start: (controller) => init.signal!.addEventListener('abort', () => controller.error(init.signal!.reason)) }), { status: 201 });
    assert.deepEqual(await send(fakeFetch(slowBody).fetch, 50), { answered: false, reason: 'no answer within 50 ms' });
  });

  it('uses globalThis.fetch, as it is at each request, when given no fetch', async () => {
    const original = globalThis.fetch;
    const { fetch, calls } = fakeFetch(() => json(201, { data: [] }));
    const transport = createTransport({ endpoint: ENDPOINT, timeoutMs: 1000 });
    globalThis.fetch = fetch;
    try {
      assert.equal((await transport.send('tok-2', ['{}'])).answered, true);
    } finally {
      globalThis.fetch = original;
    }
    assert.equal(calls.length, 1);
    assert.equal((calls[0]!.init.headers as Record<string, string>).authorization, 'Bearer tok-2');
  });
});

describe('batchEndpoint', () => {
  it('puts the batch path below the base URL, its path kept and trailing slashes removed', () => {
    assert.equal(batchEndpoint('http://audit-api:8080'), 'http://audit-api:8080/api/v1/activity/batch');
    assert.equal(batchEndpoint('https://example.com/audit//'), 'https://example.com/audit/api/v1/activity/batch');
    assert.equal(batchEndpoint('http://audit-api:8080/?x=1#y'), 'http://audit-api:8080/api/v1/activity/batch');
  });

  it('refuses what is no http(s) URL', () => {
    assert.equal(batchEndpoint('ftp://audit'), undefined);
    assert.equal(batchEndpoint('audit-api:8080'), undefined);
    assert.equal(batchEndpoint('not a url'), undefined);
  });
});
