import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import winston from 'winston';
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

  it('applies its level, a level change and silence, as winston does', async () => {
    const { logger, lines } = memoryLogger();
    logger.debug('hidden at info');
    logger.level = 'debug';
    logger.debug('shown at debug');
    logger.silent = true;
    logger.error('silenced');
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(lines.map((l) => l.message), ['shown at debug']);
  });

  it('gives a transport the app adds the same redacted line, and keeps writing its own', async () => {
    const { logger, lines } = memoryLogger();
    const extra = new PassThrough({ objectMode: true });
    const seen: Record<string, unknown>[] = [];
    extra.on('data', (info: Record<string, unknown>) => seen.push(info));
    logger.add(new winston.transports.Stream({ stream: extra }));
    withRequestId('req-7', () => logger.info('with two transports', { api_key: 'k-1', user: 'ann' }));
    logger.child({ order_id: 'o-2' }).warn('from a child');
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(lines.map((l) => l.message), ['with two transports', 'from a child']);
    assert.equal(lines[0]!.api_key, '[REDACTED]');
    assert.equal(lines[0]!.request_id, 'req-7');
    assert.equal(lines[1]!.order_id, 'o-2');
    assert.equal(seen.length, 2, 'the added transport saw both lines');
    assert.equal(seen[0]!.api_key, '[REDACTED]');
    assert.equal(seen[0]!.user, 'ann');
  });

  it('keeps a line whose fields cannot be serialised, with its fixed fields and request id', async () => {
    const { logger, lines } = memoryLogger();
    const circular: Record<string, unknown> = { name: 'loop' };
    circular.self = circular;
    withRequestId('req-9', () => logger.info('circular', { circular, big: 10n }));
    await new Promise((r) => setImmediate(r));
    assert.equal(lines[0]!.message, 'circular');
    assert.equal(lines[0]!.request_id, 'req-9');
    assert.equal(lines[0]!.fields, '[unserialisable]');
  });
});

