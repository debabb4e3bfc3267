import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { createLogger } from '../src/logger.js';
import { withRequestId } from '../src/request-id.js';

/** A logger writing into memory, and the lines it wrote. */
function memoryLogger() {
  const stream = new PassThrough();
  const lines: Record<string, unknown>[] = [];
  stream.on('data', (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
  });
  return { logger: createLogger({ stream, defaultMeta: { component: 'test' } }), lines };
}

describe('createLogger', () => {
  it('writes one JSON object per line with timestamp, level, message, service.name and the fields', async () => {
    const { logger, lines } = memoryLogger();
    logger.info('order placed', { order_id: 'o-1' });
    await new Promise((r) => setImmediate(r));
    assert.equal(lines.length, 1);
    const [line] = lines;
    assert.deepEqual(Object.keys(line!).slice(0, 4), ['timestamp', 'level', 'message', 'service.name']);
    assert.equal(line!.message, 'order placed');
    assert.equal(line!.order_id, 'o-1');
    assert.equal(line!.component, 'test');
  });

  it("redacts secrets in the line without touching the caller's object", async () => {
    const { logger, lines } = memoryLogger();
    const config = { host: 'db', password: 'hunter2', nested: { api_key: 'k' } };
    logger.info(Object.assign(config, { message: 'connecting' }));
    await new Promise((r) => setImmediate(r));
    assert.equal(lines[0]!.password, '[REDACTED]');
    assert.deepEqual(lines[0]!.nested, { api_key: '[REDACTED]' });
    assert.equal(config.password, 'hunter2', 'the app still holds its real password');
    assert.equal(config.nested.api_key, 'k');
  });

  it('flattens an Error field into type, message and stack, and carries the current request id', async () => {
    const { logger, lines } = memoryLogger();
    withRequestId('req-42', () => logger.error('failed', { err: new TypeError('bad input') }));
    await new Promise((r) => setImmediate(r));
    const err = lines[0]!.err as Record<string, string>;
    assert.equal(err.type, 'TypeError');
    assert.equal(err.message, 'bad input');
    assert.match(err.stack!, /logger\.test\.ts/);
    assert.equal(lines[0]!.request_id, 'req-42');
  });
});
