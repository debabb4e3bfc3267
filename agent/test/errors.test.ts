// Exception fingerprints, the lookout.errors counter with its cap, and setUser, in this process: the rule on
// real and written stacks, and the processors on real SDK spans, log records and metrics.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { context, ROOT_CONTEXT, SpanKind, trace, type Span } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { RPCType, setRPCMetadata } from '@opentelemetry/core';
import { InMemoryLogRecordExporter, LoggerProvider, SimpleLogRecordProcessor } from '@opentelemetry/sdk-logs';
import { AggregationTemporality, MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { loadConfig } from '../src/config.js';
import { ErrorCounter, ErrorFingerprintSpanProcessor, ErrorLogRecordProcessor, OVERFLOW } from '../src/errors.js';
import { setUser } from '../src/errors-user.js';
import { fingerprint, firstAppFrame, normaliseMessage } from '../src/fingerprint.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const options = { root: ROOT };

class NotFound extends Error {
  override name = 'NotFound';
}

function loadUser(id: string): never {
  throw new NotFound(`user ${id} not found`);
}
function loadTeam(id: string): never {
  throw new NotFound(`team ${id} not found`);
}
async function loadLater(id: string): Promise<never> {
  await new Promise((resolve) => setImmediate(resolve));
  throw new NotFound(`user ${id} not found (async)`);
}

function caught(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('did not throw');
}
const fingerprintOf = (err: Error) => fingerprint({ type: err.name, message: err.message, stack: err.stack }, options);

describe('exception fingerprints', () => {
  it('gives the same fault with different ids in its message one fingerprint', () => {
    const a = caught(() => loadUser('42'));
    const b = caught(() => loadUser('f3a9c1de-77b2-4b9e-a1c0-5d2e8f1b9a00'));
    assert.notEqual(a.message, b.message);
    assert.equal(fingerprintOf(a), fingerprintOf(b));
    assert.match(fingerprintOf(a), /^[0-9a-f]{16}$/);
  });

  it('tells different throw sites apart, even with the same type and message shape', () => {
    assert.notEqual(fingerprintOf(caught(() => loadUser('1'))), fingerprintOf(caught(() => loadTeam('1'))));
  });

  it('tells different types at the same site apart', () => {
    const err = caught(() => loadUser('1'));
    assert.notEqual(fingerprint({ type: 'NotFound', stack: err.stack }, options), fingerprint({ type: 'Error', stack: err.stack }, options));
  });

  it('groups an async fault by the frame that threw after the await', async () => {
    const a = await loadLater('1').catch((err: Error) => err);
    const b = await loadLater('2').catch((err: Error) => err);
    assert.equal(fingerprintOf(a), fingerprintOf(b));
    assert.match(firstAppFrame(a.stack!, options)!, /^test\/errors\.test\.ts:\d+ loadLater$/);
  });

  it('skips frames in node_modules, Node internals, native code and eval', () => {
    const stack = [
      'Error: boom',
      '    at Parser.parse (/srv/app/node_modules/pg-protocol/dist/parser.js:283:98)',
      '    at process.processTicksAndRejections (node:internal/process/task_queues:105:5)',
      '    at new Promise (<anonymous>)',
      '    at eval (eval at <anonymous> (file:///srv/app/x.mjs:1:1), <anonymous>:1:1)',
      '    at async Router.handle [as handle] (file:///srv/app/src/routes.mjs:40:7)',
      '    at main (/srv/app/src/main.mjs:3:1)',
    ].join('\n');
    assert.equal(firstAppFrame(stack, { root: '/srv/app' }), 'src/routes.mjs:40 Router.handle');
  });

  it('names files relative to the app root, so two deploy paths agree; the column does not count', () => {
    const at = (dir: string, column: number) => `Error: x\n    at charge (${dir}/dist/billing.js:12:${column})`;
    assert.equal(
      fingerprint({ type: 'Error', stack: at('/srv/releases/41', 5) }, { root: '/srv/releases/41' }),
      fingerprint({ type: 'Error', stack: at('/opt/app', 19) }, { root: '/opt/app/' }),
    );
  });

  it('skips the agent’s own files (the Error it makes for a thrown non-Error)', () => {
    const stack = 'Error: 42\n    at recordServerError (/srv/app/node_modules/@lookout/agent/dist/preload/register.js:1:1)\n    at onFinish (/repo/agent/dist/preload/chunk.js:2:2)';
    assert.equal(firstAppFrame(stack, { root: '/repo', skip: ['/repo/agent/dist'] }), undefined);
  });

  it('falls back to the type and the normalised message without an app frame, or for a non-Error value', () => {
    const libraryOnly = (message: string) => `Error: ${message}\n    at Client.query (/srv/app/node_modules/pg/lib/client.js:10:3)`;
    assert.equal(
      fingerprint({ type: 'Error', message: 'timeout after 3001 ms', stack: libraryOnly('timeout after 3001 ms') }, options),
      fingerprint({ type: 'Error', message: 'timeout after 5000 ms', stack: libraryOnly('timeout after 5000 ms') }, options),
    );
    // `throw 42` recorded by span.recordException(String(value)): a message and nothing else.
    assert.equal(fingerprint({ message: '42' }, options), fingerprint({ message: '97' }, options));
    assert.notEqual(fingerprint({ message: 'rate limited' }, options), fingerprint({ message: 'quota exceeded' }, options));
    // A database error (db-errors.ts records no stack): grouped by SQLSTATE-class type and message.
    assert.equal(
      fingerprint({ type: 'DatabaseError', message: 'relation "orders_2024" does not exist' }, options),
      fingerprint({ type: 'DatabaseError', message: 'relation "orders_2025" does not exist' }, options),
    );
  });

  it('normalises numbers, hex ids, UUIDs and quoted values, and keeps words', () => {
    assert.equal(
      normaliseMessage(`order 1234 of user 'ann' (5f3c9a0b2e7d4c1a9f8e6d5c) failed: "x" at 0x7ffd3a2b, req 0af76519-16cd-43dd-8448-eb211c80319c, facade decade`),
      'order <n> of user <str> (<hex>) failed: <str> at <hex>, req <uuid>, facade decade',
    );
  });
});

describe('errors configuration', () => {
  const APP = fileURLToPath(new URL('./fixtures/apps/esm-app.mjs', import.meta.url));

  it('takes LOOKOUT_ERRORS_MAX_FINGERPRINTS, 200 by default, and the app root from the nearest package.json', () => {
    const config = loadConfig({}, APP);
    assert.equal(config.errorsMaxFingerprints, 200);
    assert.equal(config.appRoot, fileURLToPath(new URL('./fixtures/apps', import.meta.url)));
    assert.equal(loadConfig({ LOOKOUT_ERRORS_MAX_FINGERPRINTS: '25' }, APP).errorsMaxFingerprints, 25);
  });

  it('warns about a bad LOOKOUT_ERRORS_MAX_FINGERPRINTS and keeps the default', () => {
    const write = process.stderr.write;
    let warned = '';
    process.stderr.write = ((chunk: string) => ((warned += chunk), true)) as typeof process.stderr.write;
    try {
      assert.equal(loadConfig({ LOOKOUT_ERRORS_MAX_FINGERPRINTS: '0' }, APP).errorsMaxFingerprints, 200);
    } finally {
      process.stderr.write = write;
    }
    assert.match(warned, /LOOKOUT_ERRORS_MAX_FINGERPRINTS="0" is not an integer >= 1; the default 200 is used/);
  });
});

/** The counter's points: `fingerprint/type` -> value. */
async function counted(reader: MetricReader): Promise<Record<string, number>> {
  const { resourceMetrics } = await reader.collect();
  const out: Record<string, number> = {};
  for (const scope of resourceMetrics.scopeMetrics) {
    for (const metric of scope.metrics) {
      if (metric.descriptor.name !== 'lookout.errors') continue;
      assert.equal(metric.descriptor.unit, '{exception}');
      for (const point of metric.dataPoints) out[`${point.attributes['exception.fingerprint']}/${point.attributes['exception.type']}`] = point.value as number;
    }
  }
  return out;
}

class Reader extends MetricReader {
  constructor() {
    super({ aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE });
  }
  protected override async onShutdown(): Promise<void> {}
  protected override async onForceFlush(): Promise<void> {}
}

function pipeline(maxFingerprints = 200) {
  const reader = new Reader();
  const meterProvider = new MeterProvider({ readers: [reader] });
  const counter = new ErrorCounter(meterProvider.getMeter('@lookout/agent'), maxFingerprints);
  const exporter = new InMemorySpanExporter();
  const processor = new ErrorFingerprintSpanProcessor(options, counter);
  const provider = new TracerProvider({ spanProcessors: [processor, new SimpleSpanProcessor({ exporter })] });
  return { reader, exporter, processor, tracer: provider.getTracer('test') };
}

describe('the error span processor and lookout.errors', () => {
  it('adds exception.fingerprint to every exception event, whoever recorded it, and counts it by fingerprint and type', async () => {
    const { reader, exporter, tracer } = pipeline();
    for (const id of ['1', '2']) {
      const span = tracer.startSpan('GET /users/:id', { kind: SpanKind.SERVER });
      span.recordException(caught(() => loadUser(id)));
      span.addEvent('exception', { 'exception.type': 'NotFound', 'exception.message': `user ${id} not found` }); // an event made by hand
      span.addEvent('cache miss');
      span.end();
    }
    const [first, second] = exporter.getFinishedSpans();
    const fingerprints = first!.events.map((e) => e.attributes?.['exception.fingerprint']);
    assert.equal(fingerprints[2], undefined, 'other events are left alone');
    assert.deepEqual(second!.events.map((e) => e.attributes?.['exception.fingerprint']), fingerprints);
    const thrown = fingerprintOf(caught(() => loadUser('3')));
    assert.equal(fingerprints[0], thrown);
    assert.deepEqual(await counted(reader), { [`${thrown}/NotFound`]: 2, [`${fingerprints[1]}/NotFound`]: 2 });
  });

  it('counts an error once per trace when spans of one request record it again, and not on client spans', async () => {
    const { reader, tracer } = pipeline();
    const err = caught(() => loadUser('1'));
    const server = tracer.startSpan('GET', { kind: SpanKind.SERVER });
    const ctx = trace.setSpan(ROOT_CONTEXT, server);
    const internal = tracer.startSpan('load user', {}, ctx);
    internal.recordException(err);
    internal.end();
    const client = tracer.startSpan('SELECT', { kind: SpanKind.CLIENT }, ctx);
    client.recordException(new Error('connection refused'));
    client.end();
    server.recordException(err);
    server.end();
    assert.deepEqual(await counted(reader), { [`${fingerprintOf(err)}/NotFound`]: 1 });
  });

  it('counts at most the configured number of fingerprints, the rest as one _overflow series', async () => {
    const { reader, exporter, tracer } = pipeline(2);
    const faults = [() => loadUser('1'), () => loadTeam('1'), () => assert.fail('a third site')];
    for (const fault of [...faults, ...faults]) {
      const span = tracer.startSpan('job');
      span.recordException(caught(fault));
      span.end();
    }
    const values = Object.entries(await counted(reader)).sort();
    assert.equal(values.length, 3);
    assert.deepEqual(values.find(([key]) => key === `${OVERFLOW}/${OVERFLOW}`), [`${OVERFLOW}/${OVERFLOW}`, 2]);
    assert.deepEqual(values.filter(([key]) => !key.startsWith(OVERFLOW)).map(([, v]) => v), [2, 2]);
    // The events keep their own fingerprint: the cap bounds the metric's series, not what a trace says.
    assert.equal(new Set(exporter.getFinishedSpans().map((s) => s.events[0]!.attributes!['exception.fingerprint'])).size, 3);
  });

  it('costs next to nothing for a span without events', () => {
    const { processor, tracer } = pipeline();
    const span = tracer.startSpan('GET');
    span.end();
    const readable = span as unknown as Parameters<typeof processor.onEnd>[0];
    const rounds = 1_000_000;
    for (let i = 0; i < rounds; i++) processor.onEnd(readable); // warm-up
    const start = process.hrtime.bigint();
    for (let i = 0; i < rounds; i++) processor.onEnd(readable);
    const nsPerSpan = Number(process.hrtime.bigint() - start) / rounds;
    // About 14 ns here (one call, one length check); the bound only catches work creeping onto this path (a span costs ~1.8 µs end to end).
    assert.ok(nsPerSpan < 50, `${nsPerSpan.toFixed(1)} ns per span without events`);
  });
});

describe('the error log record processor and setUser', () => {
  const manager = new AsyncLocalStorageContextManager();
  const exporter = new InMemoryLogRecordExporter();
  const logger = new LoggerProvider({ processors: [new ErrorLogRecordProcessor(options), new SimpleLogRecordProcessor({ exporter })] }).getLogger('test');
  const spans = new InMemorySpanExporter();
  const tracer = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter: spans })] }).getTracer('test');

  before(() => context.setGlobalContextManager(manager.enable()));
  after(() => context.disable());
  beforeEach(() => {
    exporter.reset();
    spans.reset();
  });

  /** Runs `fn` as an HTTP server request would: its server span active, with the request's RPC metadata. */
  function inRequest(fn: (server: Span) => void): Span {
    const server = tracer.startSpan('GET', { kind: SpanKind.SERVER });
    context.with(setRPCMetadata(trace.setSpan(ROOT_CONTEXT, server), { type: RPCType.HTTP, span: server }), () => fn(server));
    server.end();
    return server;
  }

  it('adds the same exception.fingerprint to a log record as to the span event of the same error', () => {
    const err = caught(() => loadUser('7'));
    logger.emit({ body: 'lookup failed', exception: err });
    logger.emit({ body: 'no exception', attributes: { 'exception.escaped': false } });
    const [withError, without] = exporter.getFinishedLogRecords();
    assert.equal(withError!.attributes['exception.fingerprint'], fingerprintOf(err));
    assert.equal(without!.attributes['exception.fingerprint'], undefined);
  });

  it('puts enduser.id on the active span, the server span and the log records written later in the request', () => {
    inRequest(() => {
      logger.emit({ body: 'before' });
      const child = tracer.startSpan('load user', {}, context.active());
      context.with(trace.setSpan(context.active(), child), () => setUser({ id: 'u-1001' }));
      child.end();
      logger.emit({ body: 'after' });
    });
    const records = exporter.getFinishedLogRecords();
    assert.deepEqual(records.map((r) => [r.body, r.attributes['enduser.id']]), [['before', undefined], ['after', 'u-1001']]);
    const finished = spans.getFinishedSpans();
    assert.deepEqual(finished.map((s) => [s.name, s.attributes['enduser.id']]), [['load user', 'u-1001'], ['GET', 'u-1001']]);
    // A later request starts without a user.
    inRequest(() => logger.emit({ body: 'next request' }));
    assert.equal(exporter.getFinishedLogRecords().at(-1)!.attributes['enduser.id'], undefined);
  });

  it('exports an e-mail address as id as its pseudonym, per the redaction policy', () => {
    inRequest(() => {
      setUser({ id: 'Jane.Doe@Example.com' });
      logger.emit({ body: 'hello' });
    });
    const expected = `sha256:${createHash('sha256').update('jane.doe@example.com').digest('hex').slice(0, 16)}`;
    assert.equal(spans.getFinishedSpans()[0]!.attributes['enduser.id'], expected);
    assert.equal(exporter.getFinishedLogRecords()[0]!.attributes['enduser.id'], expected);
  });

  it('takes an integer id, and ignores an empty, overlong or missing one without throwing', () => {
    const server = inRequest(() => {
      setUser({ id: 42 });
      for (const bad of [{ id: '' }, { id: 'x'.repeat(257) }, { id: 1.5 }, {}, null]) setUser(bad as never);
    });
    assert.equal((server as unknown as { attributes: Record<string, unknown> }).attributes['enduser.id'], '42');
  });
});
