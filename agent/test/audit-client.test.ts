// The audit client against a real local HTTP server that plays the audit API: batching per tenant, fields
// from context, retries that keep ids, permanent failures, bounds, and never harming the host process.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { context, metrics, ROOT_CONTEXT, trace, TraceFlags, type SpanContext } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { isTracingSuppressed } from '@opentelemetry/core';
import { AggregationTemporality, MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import { eventually } from '@lookout/testkit';
import { audit, createAuditClient, type AuditClient, type AuditClientOptions } from '../src/audit/client.js';
import { withRequestId } from '../src/request-id.js';

const AGENT_DIR = fileURLToPath(new URL('../', import.meta.url));
const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

interface ApiError {
  code: string;
  message: string;
  field?: string;
}
type Reply = { status: 201 } | { status: number; retryAfter?: string; error?: ApiError } | 'hang';

interface Received {
  at: number;
  tenant: string;
  authorization: string | undefined;
  events: Array<Record<string, unknown>>;
  ids: string[];
}

/** Plays the audit API's batch endpoint: records each request, answers as told, stores each (tenant, id) once. */
class AuditServer {
  readonly requests: Received[] = [];
  /** Stored events by `tenant/id`: a retried id returns the stored event and stores nothing, as the real API does. */
  readonly stored = new Map<string, Record<string, unknown>>();
  /** Replies for the next requests, in order; then `otherwise`. */
  replies: Reply[] = [];
  otherwise: Reply = { status: 201 };
  port = 0;
  private server: Server | undefined;
  private readonly hung = new Set<ServerResponse>();

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  storedIds(tenant: string): string[] {
    return [...this.stored.keys()].filter((k) => k.startsWith(`${tenant}/`)).map((k) => k.slice(tenant.length + 1));
  }

  async start(port = 0): Promise<void> {
    const server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
  }

  /** Closes the port; connections, hung ones included, are cut. */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    for (const res of this.hung) res.destroy();
    this.hung.clear();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let body = '';
    for await (const chunk of req) body += String(chunk);
    const authorization = req.headers.authorization;
    const tenant = authorization?.replace(/^Bearer token-/, '') ?? '';
    const events = (JSON.parse(body) as { events: Array<Record<string, unknown>> }).events;
    this.requests.push({ at: Date.now(), tenant, authorization, events, ids: events.map((e) => e.id as string) });
    assert.equal(req.url, '/api/v1/activity/batch');
    assert.equal(req.method, 'POST');
    const reply = this.replies.shift() ?? this.otherwise;
    if (reply === 'hang') {
      this.store(tenant, events); // committed, but the answer never reaches the client
      this.hung.add(res);
      return;
    }
    if (reply.status === 201) {
      res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ data: this.store(tenant, events) }));
      return;
    }
    const { status, retryAfter, error } = reply as { status: number; retryAfter?: string; error?: ApiError };
    res.writeHead(status, { 'content-type': 'application/json', ...(retryAfter ? { 'retry-after': retryAfter } : {}) });
    res.end(JSON.stringify({ error: error ?? { code: 'unavailable', message: 'try later' } }));
  }

  private store(tenant: string, events: Array<Record<string, unknown>>): Array<Record<string, unknown>> {
    return events.map((event) => {
      const key = `${tenant}/${event.id as string}`;
      const existing = this.stored.get(key);
      if (existing) return existing;
      this.stored.set(key, event);
      return event;
    });
  }
}

/** Captures what the agent writes to stderr (its warnings) until restored. */
function captureStderr(): { text: () => string; restore: () => void } {
  const original = process.stderr.write;
  let text = '';
  process.stderr.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    text += String(chunk);
    return (original as (...a: unknown[]) => boolean).call(process.stderr, chunk, ...rest);
  }) as typeof process.stderr.write;
  return { text: () => text, restore: () => (process.stderr.write = original) };
}

const actor = { type: 'user', id: 'u-1', display: 'Ada' } as const;
const sumDropped = (dropped: Record<string, number>) => Object.values(dropped).reduce((a, b) => a + b, 0);

describe('the audit client', function () {
  this.timeout(30_000);
  let server: AuditServer;
  const clients: AuditClient[] = [];
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);

  function client(options: AuditClientOptions = {}): AuditClient {
    const made = createAuditClient({ url: server.url, token: (tenant) => `token-${tenant ?? 'none'}`, maxRetryDelayMs: 50, ...options });
    clients.push(made);
    return made;
  }

  before(() => process.on('unhandledRejection', onUnhandled));
  after(() => {
    process.off('unhandledRejection', onUnhandled);
    assert.deepEqual(unhandled, [], 'no unhandled rejection during the audit client tests');
  });
  beforeEach(async () => {
    server = new AuditServer();
    await server.start();
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.shutdown(200)));
    await server.stop();
  });

  it('sends full batches at once, one tenant per request with that tenant’s token, and the rest at flush()', async () => {
    const audit = client({ batchSize: 3, flushIntervalMs: 60_000 });
    const recorded: Record<string, string[]> = { a: [], b: [] };
    for (let n = 0; n < 9; n++) {
      const tenant = n % 3 === 2 ? 'b' : 'a'; // a a b a a b a a b: 6 for a, 3 for b
      recorded[tenant]!.push(
        audit.record('storage.file.uploaded', { actor, object: { type: 'file', id: `f-${n}` }, metadata: { n, tenant }, tenant }),
      );
    }
    audit.record('storage.file.uploaded', { actor, metadata: { n: 9, tenant: 'a' }, tenant: 'a' }); // a 7th for a: a partial batch
    await eventually('the three full batches', () => audit.stats.delivered === 9);
    assert.equal(server.stored.size, 9);
    assert.equal(audit.stats.buffered, 1, 'the partial batch waits for the interval or a flush');
    await audit.flush();
    assert.equal(server.stored.size, 10);

    for (const request of server.requests) {
      assert.ok(request.events.length <= 3, 'at most batchSize events per request');
      assert.equal(request.authorization, `Bearer token-${request.tenant}`);
      for (const event of request.events) assert.equal((event.metadata as { tenant: string }).tenant, request.tenant, 'one tenant per request');
    }
    assert.deepEqual(server.storedIds('a'), [...recorded.a!, server.requests.at(-1)!.ids[0]], "tenant a's events, in order");
    assert.deepEqual(server.storedIds('b'), recorded.b);

    const event = server.requests[0]!.events[0]!;
    assert.match(event.id as string, UUID_V7);
    assert.equal(event.action, 'storage.file.uploaded');
    assert.equal(event.status, 'success');
    assert.ok(Math.abs(Date.parse(event.occurred_at as string) - Date.now()) < 10_000);
    assert.match(event.occurred_at as string, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.deepEqual(event.actor, { type: 'user', id: 'u-1', display: 'Ada' });
    assert.deepEqual(event.object, { type: 'file', id: 'f-0' });
    assert.deepEqual(event.metadata, { n: 0, tenant: 'a' });
    assert.ok(!('request_id' in event) && !('trace_id' in event) && !('tenant' in event), 'no context, no tenant in the body');
    assert.deepEqual(audit.stats, { recorded: 10, delivered: 10, dropped: {}, buffered: 0 });
  });

  it('sends a partial batch after flushIntervalMs without being asked', async () => {
    const audit = client({ batchSize: 100, flushIntervalMs: 100 });
    const id = audit.record('auth.logout', { actor, status: 'failure', occurredAt: new Date('2026-01-02T03:04:05.678Z') });
    await eventually('the event, sent by the timer', () => server.stored.size === 1);
    const [event] = server.requests[0]!.events;
    assert.equal(event!.id, id);
    assert.equal(event!.status, 'failure');
    assert.equal(event!.occurred_at, '2026-01-02T03:04:05.678Z');
    assert.deepEqual(event!.metadata, {});
  });

  describe('inside a request and a span', () => {
    const manager = new AsyncLocalStorageContextManager();
    const requests: Array<{ suppressed: boolean; spanId: string | undefined }> = [];
    const onRequest = (message: unknown) => {
      const { request } = message as { request: { origin?: string } };
      if (request.origin?.includes(`:${server.port}`)) {
        requests.push({ suppressed: isTracingSuppressed(context.active()), spanId: trace.getSpanContext(context.active())?.spanId });
      }
    };
    before(() => {
      context.setGlobalContextManager(manager.enable());
      subscribe('undici:request:create', onRequest);
    });
    after(() => {
      unsubscribe('undici:request:create', onRequest);
      context.disable();
    });

    it('takes request_id, trace_id and span_id from the context, and sends with tracing suppressed, outside the span', async () => {
      const spanContext: SpanContext = { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: TraceFlags.SAMPLED };
      const audit = client({ batchSize: 1 });
      const id = withRequestId('req-42', () =>
        context.with(trace.setSpan(ROOT_CONTEXT, trace.wrapSpanContext(spanContext)), () =>
          // batchSize 1: the send starts inside record(), in the caller's context
          audit.record('auth.login.success', { actor, metadata: { method: 'password' } }),
        ),
      );
      await eventually('the event', () => server.stored.size === 1);
      const event = server.requests[0]!.events[0]!;
      assert.equal(event.id, id);
      assert.equal(event.request_id, 'req-42');
      assert.equal(event.trace_id, spanContext.traceId);
      assert.equal(event.span_id, spanContext.spanId);
      assert.ok(requests.length >= 1, 'the undici diagnostics channel saw the request');
      for (const request of requests) {
        assert.equal(request.suppressed, true, 'instrumentations see tracing suppressed');
        assert.equal(request.spanId, undefined, "the request is not part of the caller's trace");
      }
    });

    it('leaves out trace fields for an invalid span context', async () => {
      const audit = client({ batchSize: 1 });
      context.with(trace.setSpan(ROOT_CONTEXT, trace.wrapSpanContext({ traceId: '0'.repeat(32), spanId: '0'.repeat(16), traceFlags: 0 })), () =>
        audit.record('auth.logout', { actor }),
      );
      await eventually('the event', () => server.stored.size === 1);
      assert.ok(!('trace_id' in server.requests[0]!.events[0]!));
    });
  });

  it('retries after 503 with the same ids, and the events are stored exactly once', async () => {
    server.replies = [{ status: 503, retryAfter: '0' }, { status: 503 }];
    const audit = client({ batchSize: 4 });
    const ids = Array.from({ length: 4 }, (_, n) => audit.record('agent.run.started', { actor, metadata: { n } }));
    await eventually('delivery after two 503s', () => audit.stats.delivered === 4);
    assert.equal(server.requests.length, 3);
    for (const request of server.requests) assert.deepEqual(request.ids, ids, 'every attempt carries the same ids');
    assert.deepEqual(server.storedIds('none'), ids);
    assert.deepEqual(audit.stats, { recorded: 4, delivered: 4, dropped: {}, buffered: 0 });
  });

  it('keeps events while the audit API is down and delivers them, same ids, when it is back on the same port', async () => {
    const stderr = captureStderr();
    try {
      const port = server.port;
      await server.stop();
      const audit = client({ batchSize: 2, flushIntervalMs: 20, maxRetryDelayMs: 100 });
      const ids = Array.from({ length: 5 }, (_, n) => audit.record('workflow.run.completed', { actor, metadata: { n } }));
      await eventually('a failed attempt', () => stderr.text().includes('cannot reach the audit API'));
      assert.equal(audit.stats.buffered, 5, 'nothing is dropped while the server is down');
      assert.deepEqual(audit.stats.dropped, {});
      await server.start(port);
      await eventually('delivery once the server is back', () => audit.stats.delivered === 5);
      assert.deepEqual(server.storedIds('none'), ids);
      assert.equal(stderr.text().split('cannot reach the audit API').length - 1, 1, 'one warning for the outage, not one per attempt');
    } finally {
      stderr.restore();
    }
  });

  it('retries a request that got no answer within requestTimeoutMs; the server stores it once', async () => {
    server.replies = ['hang'];
    const audit = client({ batchSize: 3, requestTimeoutMs: 300 });
    const ids = Array.from({ length: 3 }, (_, n) => audit.record('agent.run.ended', { actor, metadata: { n } }));
    await eventually('delivery after the timeout', () => audit.stats.delivered === 3);
    assert.equal(server.requests.length, 2);
    assert.deepEqual(server.requests[1]!.ids, server.requests[0]!.ids);
    assert.deepEqual(server.storedIds('none'), ids, 'stored once, though sent twice');
  });

  it('waits for Retry-After after a 429 before trying again', async () => {
    server.replies = [{ status: 429, retryAfter: '1', error: { code: 'rate_limited', message: 'slow down' } }];
    const audit = client({ batchSize: 1, maxRetryDelayMs: 5000 });
    audit.record('auth.login.success', { actor });
    await eventually('delivery after the 429', () => audit.stats.delivered === 1);
    const gap = server.requests[1]!.at - server.requests[0]!.at;
    assert.ok(gap >= 950, `retried ${gap} ms after the 429, asked to wait 1000 ms`);
    assert.ok(gap < 3000, `retried ${gap} ms after the 429`);
  });

  it('drops only the event a 400 names, counts it as invalid, warns with the code and field, and resends the rest', async () => {
    const stderr = captureStderr();
    try {
      server.replies = [{ status: 400, error: { code: 'invalid_metadata', message: 'reason must be one of …', field: 'events[1].metadata.reason' } }];
      const audit = client({ batchSize: 3 });
      const ids = ['first', 'bad', 'third'].map((reason) => audit.record('auth.login.failure', { actor, status: 'failure', metadata: { reason } }));
      await eventually('the other two delivered', () => audit.stats.delivered === 2);
      assert.deepEqual(server.requests[1]!.ids, [ids[0], ids[2]]);
      assert.deepEqual(server.storedIds('none'), [ids[0], ids[2]]);
      assert.deepEqual(audit.stats, { recorded: 3, delivered: 2, dropped: { invalid: 1 }, buffered: 0 });
      assert.match(stderr.text(), new RegExp(`${ids[1]}.*invalid_metadata at events\\[1\\]\\.metadata\\.reason`));
    } finally {
      stderr.restore();
    }
  });

  it('drops a whole batch on a 400 that names no event, and on a 401 (reason rejected), without retrying', async () => {
    const stderr = captureStderr();
    try {
      server.replies = [
        { status: 400, error: { code: 'invalid_body', message: 'events must be an array', field: 'events' } },
        { status: 401, error: { code: 'invalid_token', message: 'token expired' } },
      ];
      const audit = client({ batchSize: 2 });
      for (let n = 0; n < 4; n++) audit.record('auth.logout', { actor, metadata: { n } });
      await eventually('both batches given up', () => sumDropped(audit.stats.dropped) === 4);
      await audit.flush();
      assert.equal(server.requests.length, 2, 'no retry of a permanent failure');
      assert.deepEqual(audit.stats, { recorded: 4, delivered: 0, dropped: { invalid: 2, rejected: 2 }, buffered: 0 });
      assert.match(stderr.text(), /401 invalid_token: token expired.*activity:write/);
    } finally {
      stderr.restore();
    }
  });

  it('bounds its buffer: new events beyond maxBufferedEvents are dropped and counted', async () => {
    const audit = client({ batchSize: 100, flushIntervalMs: 60_000, maxBufferedEvents: 3 });
    const ids = Array.from({ length: 5 }, (_, n) => audit.record('auth.logout', { actor, metadata: { n } }));
    assert.deepEqual(audit.stats, { recorded: 5, delivered: 0, dropped: { buffer_full: 2 }, buffered: 3 });
    await audit.flush();
    assert.deepEqual(server.storedIds('none'), ids.slice(0, 3), 'the oldest are kept, the newest dropped');
    assert.deepEqual(audit.stats, { recorded: 5, delivered: 3, dropped: { buffer_full: 2 }, buffered: 0 });
  });

  it('keeps events while the token cannot be had, then delivers them', async () => {
    let calls = 0;
    const audit = client({
      batchSize: 2,
      token: async (tenant) => {
        if (++calls <= 2) throw new Error('vault unreachable');
        return `token-${tenant}`;
      },
    });
    audit.record('auth.logout', { actor, tenant: 't1' });
    audit.record('auth.logout', { actor, tenant: 't1' });
    await eventually('delivery with the third token', () => audit.stats.delivered === 2);
    assert.equal(server.requests.length, 1);
    assert.equal(server.requests[0]!.authorization, 'Bearer token-t1');
  });

  it('refuses an event for another tenant than a static token’s tenant_id', () => {
    const payload = Buffer.from(JSON.stringify({ sub: 'svc', tenant_id: 'acme', scope: 'activity:write' })).toString('base64url');
    const audit = client({ token: `eyJhbGciOiJIUzI1NiJ9.${payload}.c2ln`, flushIntervalMs: 60_000 });
    audit.record('auth.logout', { actor, tenant: 'acme' });
    audit.record('auth.logout', { actor });
    audit.record('auth.logout', { actor, tenant: 'globex' });
    assert.deepEqual(audit.stats, { recorded: 3, delivered: 0, dropped: { invalid: 1 }, buffered: 2 });
  });

  it('never throws from record(), whatever it is given, and counts what it cannot send as invalid', async () => {
    const stderr = captureStderr();
    try {
      const audit = client({ flushIntervalMs: 60_000 });
      const circular: Record<string, unknown> = {};
      circular.self = circular;
      const hostile = new Proxy({}, { get: () => { throw new Error('hostile getter'); } });
      const garbage: unknown[][] = [
        [],
        [undefined, undefined],
        ['', { actor }],
        ['auth.logout', null],
        ['auth.logout', 'actor'],
        ['auth.logout', { actor: null }],
        ['auth.logout', { actor: { type: 'robot', id: 'r' } }],
        ['auth.logout', { actor: { type: 'user', id: '' } }],
        ['auth.logout', { actor, metadata: circular }],
        ['auth.logout', { actor, metadata: { big: 10n } }],
        ['auth.logout', { actor, metadata: [] }],
        ['auth.logout', { actor, occurredAt: new Date('not a date') }],
        ['auth.logout', { actor, occurredAt: '2026-01-01' }],
        ['auth.logout', { actor, status: 'maybe' }],
        ['auth.logout', { actor, tenant: 42 }],
        ['auth.logout', { actor, object: { type: 1 } }],
        ['auth.logout', hostile],
        [hostile, { actor }],
        ['auth.logout', { actor, metadata: { get boom() { throw new Error('getter'); } } }],
      ];
      for (const [n, args] of garbage.entries()) {
        const id = (audit.record as (...a: unknown[]) => string)(...args);
        assert.match(id, UUID_V7, `an id even for garbage #${n}`);
      }
      const metadata = { step: 'before' };
      const good = audit.record('auth.logout', { actor, metadata });
      metadata.step = 'after'; // the event was fixed at record()
      await audit.flush();
      assert.deepEqual(audit.stats, { recorded: garbage.length + 1, delivered: 1, dropped: { invalid: garbage.length }, buffered: 0 });
      assert.deepEqual(server.storedIds('none'), [good]);
      assert.deepEqual(server.requests[0]!.events[0]!.metadata, { step: 'before' });
      // One warning a minute per client for bad input: the first problem is named.
      assert.match(stderr.text(), /audit event \(action undefined\) dropped: action must be a non-empty string/);
      assert.equal(stderr.text().split('\n').filter(Boolean).length, 1, stderr.text());
    } finally {
      stderr.restore();
    }
  });

  it('without a URL drops and counts every event as not_configured, with one warning', async () => {
    const saved = process.env.LOOKOUT_AUDIT_URL;
    delete process.env.LOOKOUT_AUDIT_URL;
    const stderr = captureStderr();
    try {
      const audit = createAuditClient({ token: 't' });
      clients.push(audit);
      for (let n = 0; n < 3; n++) assert.match(audit.record('auth.logout', { actor }), UUID_V7);
      assert.doesNotThrow(() => audit.record(undefined as unknown as string, undefined as unknown as { actor: typeof actor }));
      await audit.flush();
      assert.deepEqual(audit.stats, { recorded: 4, delivered: 0, dropped: { not_configured: 4 }, buffered: 0 });
      assert.equal(stderr.text().split('LOOKOUT_AUDIT_URL is not set').length - 1, 1, stderr.text());

      const badUrl = createAuditClient({ url: 'ftp://audit', token: 't' });
      clients.push(badUrl);
      badUrl.record('auth.logout', { actor });
      assert.deepEqual(badUrl.stats.dropped, { not_configured: 1 });
      assert.match(stderr.text(), /LOOKOUT_AUDIT_URL="ftp:\/\/audit" is not an http\(s\) URL/);
    } finally {
      stderr.restore();
      if (saved !== undefined) process.env.LOOKOUT_AUDIT_URL = saved;
    }
  });

  it('gives up a flush at its deadline while the server hangs, and counts what shutdown leaves as dropped', async () => {
    server.otherwise = 'hang';
    const audit = client({ batchSize: 10, requestTimeoutMs: 20_000 });
    for (let n = 0; n < 3; n++) audit.record('auth.logout', { actor });
    const started = Date.now();
    await audit.flush(300);
    assert.ok(Date.now() - started < 2000, `flush(300) took ${Date.now() - started} ms`);
    assert.equal(audit.stats.buffered, 3);
    await audit.shutdown(100);
    assert.deepEqual(audit.stats, { recorded: 3, delivered: 0, dropped: { shutdown: 3 }, buffered: 0 });
    audit.record('auth.logout', { actor });
    assert.deepEqual(audit.stats.dropped, { shutdown: 4 }, 'events after shutdown are dropped too');
  });

  it('counts lookout.agent.audit.delivered and lookout.agent.audit.dropped{reason}', async () => {
    class Reader extends MetricReader {
      protected override async onShutdown(): Promise<void> {}
      protected override async onForceFlush(): Promise<void> {}
    }
    const reader = new Reader({ aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE });
    metrics.setGlobalMeterProvider(new MeterProvider({ readers: [reader] }));
    try {
      server.replies = [{ status: 403, error: { code: 'insufficient_scope', message: 'needs activity:write' } }];
      const audit = client({ batchSize: 2, maxBufferedEvents: 4, flushIntervalMs: 60_000 });
      for (let n = 0; n < 5; n++) audit.record('auth.logout', { actor });
      await audit.flush();
      const { resourceMetrics } = await reader.collect();
      const points = (name: string) =>
        resourceMetrics.scopeMetrics
          .filter((s) => s.scope.name === '@lookout/agent')
          .flatMap((s) => s.metrics.filter((m) => m.descriptor.name === name))
          .flatMap((m) => m.dataPoints.map((p) => ({ attributes: p.attributes, value: p.value as number })));
      assert.deepEqual(points('lookout.agent.audit.delivered'), [{ attributes: {}, value: 2 }]);
      assert.deepEqual(
        points('lookout.agent.audit.dropped').sort((a, b) => String(a.attributes.reason).localeCompare(String(b.attributes.reason))),
        [
          { attributes: { reason: 'buffer_full' }, value: 1 },
          { attributes: { reason: 'rejected' }, value: 2 },
        ],
      );
    } finally {
      metrics.disable();
    }
  });

  it('`audit` is made from LOOKOUT_AUDIT_URL and LOOKOUT_AUDIT_TOKEN on first use', async () => {
    const saved = { url: process.env.LOOKOUT_AUDIT_URL, token: process.env.LOOKOUT_AUDIT_TOKEN };
    process.env.LOOKOUT_AUDIT_URL = `${server.url}/`;
    process.env.LOOKOUT_AUDIT_TOKEN = 'token-from-env';
    try {
      const id = audit.record('auth.logout', { actor });
      await audit.flush();
      assert.deepEqual(server.storedIds('from-env'), [id]);
      assert.equal(audit.stats.delivered, 1);
      await audit.shutdown();
    } finally {
      for (const [key, value] of [['LOOKOUT_AUDIT_URL', saved.url], ['LOOKOUT_AUDIT_TOKEN', saved.token]] as const) {
        if (value === undefined) delete process.env[key];
        else process.env[key] = value;
      }
    }
  });

  describe('in its own process', () => {
    /** Runs node with `args`; resolves with how it ended, or kills it and fails after `timeoutMs`. */
    function run(args: string[], env: Record<string, string>, timeoutMs: number, onStdout?: (text: string) => void) {
      const child = spawn(process.execPath, args, { cwd: AGENT_DIR, env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        stdout += chunk;
        onStdout?.(stdout);
      });
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
      const started = Date.now();
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number; stdout: string; stderr: string }>((resolve, reject) => {
        const timer = setTimeout(() => {
          child.kill('SIGKILL');
          reject(new Error(`still running after ${timeoutMs} ms:\n${stdout}\n${stderr}`));
        }, timeoutMs);
        child.on('exit', (code, signal) => {
          clearTimeout(timer);
          resolve({ code, signal, ms: Date.now() - started, stdout, stderr });
        });
      });
      return { child, exited };
    }

    it('does not keep a process alive: an app that records against a dead URL exits by itself', async () => {
      const port = server.port;
      await server.stop();
      const index = pathToFileURL(`${AGENT_DIR}dist/index.js`).href;
      const script = `
        import { createAuditClient } from '${index}';
        const audit = createAuditClient({ url: 'http://127.0.0.1:${port}', token: 't', flushIntervalMs: 50, maxRetryDelayMs: 100 });
        console.log(audit.record('auth.logout', { actor: { type: 'user', id: 'u-1' } }));
        // Give the timer a chance to fire once against the dead port, then let the app end.
        setTimeout(() => console.log('app done'), 300);
      `;
      const { exited } = run(['--input-type=module', '-e', script], {}, 10_000);
      const result = await exited;
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /^[0-9a-f-]{36}\napp done\n$/);
      assert.match(result.stderr, /cannot reach the audit API/, 'it did try the dead URL');
      assert.ok(result.ms < 5000, `exited after ${result.ms} ms`);
    });

    it('with the agent preloaded, SIGTERM flushes the audit buffer before the process dies by the signal', async () => {
      const script = `
        import { createAuditClient } from '@lookout/agent';
        const audit = createAuditClient({ url: '${server.url}', token: 'token-sigterm', flushIntervalMs: 60000 });
        for (let n = 0; n < 3; n++) audit.record('auth.logout', { actor: { type: 'user', id: 'u-' + n } });
        setInterval(() => {}, 1000);
        console.log('ready');
      `;
      const env = { OTEL_TRACES_EXPORTER: 'none', OTEL_METRICS_EXPORTER: 'none', OTEL_LOGS_EXPORTER: 'none', LOOKOUT_SHUTDOWN_TIMEOUT_MS: '5000' };
      let ready = false;
      const { child, exited } = run(['--import', '@lookout/agent/register', '--input-type=module', '-e', script], env, 20_000, (out) => (ready ||= out.includes('ready')));
      await eventually('the app to record its events', () => ready, 15_000);
      assert.equal(server.requests.length, 0, 'nothing sent before SIGTERM: the interval is a minute');
      child.kill('SIGTERM');
      const result = await exited;
      assert.deepEqual({ code: result.code, signal: result.signal }, { code: null, signal: 'SIGTERM' }, result.stderr);
      assert.equal(server.storedIds('sigterm').length, 3, 'the three events reached the audit API before exit');
    });
  });
});
