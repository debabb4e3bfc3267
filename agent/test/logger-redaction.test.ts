// createLogger's one redaction pass, on what the span and log processors then skip: error messages and
// messages given as objects, on the stdout line and in the OTLP record alike.
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { logs } from '@opentelemetry/api';
import { InMemoryLogRecordExporter, LoggerProvider, SimpleLogRecordProcessor } from '@opentelemetry/sdk-logs';
import { createLogger } from '../src/logger.js';
import { agentState } from '../src/state.js';

describe('createLogger redaction', () => {
  const exporter = new InMemoryLogRecordExporter();
  const provider = new LoggerProvider({ processors: [new SimpleLogRecordProcessor({ exporter })] });
  let logsWereEnabled = false;

  before(() => {
    // As under the agent: a registered provider, and logs exported.
    logs.setGlobalLoggerProvider(provider);
    logsWereEnabled = agentState().logsEnabled;
    agentState().logsEnabled = true;
  });

  after(async () => {
    agentState().logsEnabled = logsWereEnabled;
    logs.disable();
    await provider.shutdown();
  });

  afterEach(() => exporter.reset());

  function memoryLogger() {
    const stream = new PassThrough();
    const lines: Record<string, unknown>[] = [];
    stream.on('data', (chunk: Buffer) => {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
    });
    return { logger: createLogger({ stream }), lines };
  }

  it("redacts an error's message and stack on the line and in the record's exception attributes, not in the app's error", async () => {
    const { logger, lines } = memoryLogger();
    const error = new Error('no account for jane@example.com');
    logger.error('lookup failed', { err: error });
    await new Promise((r) => setImmediate(r));
    const err = lines[0]!.err as Record<string, string>;
    assert.equal(err.message, 'no account for [REDACTED]');
    assert.match(err.stack!, /^Error: no account for \[REDACTED\]\n/);
    const [record] = exporter.getFinishedLogRecords();
    assert.equal(record!.attributes['exception.message'], 'no account for [REDACTED]');
    assert.doesNotMatch(String(record!.attributes['exception.stacktrace']), /jane@example\.com/);
    assert.equal(error.message, 'no account for jane@example.com');
  });

  it('redacts a message given as an object, on the line and as the record body', async () => {
    const { logger, lines } = memoryLogger();
    logger.info({ user: 'u-1', password: 'hunter2', contact: 'jane@example.com' } as unknown as string);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(lines[0]!.message, { user: 'u-1', password: '[REDACTED]', contact: '[REDACTED]' });
    const [record] = exporter.getFinishedLogRecords();
    assert.doesNotMatch(String(record!.body), /hunter2|jane@example\.com/);
    assert.match(String(record!.body), /"user":"u-1"/);
  });
});
