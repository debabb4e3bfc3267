// Event ids: uuidv7 layout and ordering.
import assert from 'node:assert/strict';
import { uuidv7 } from '../../src/domain/ids.js';

describe('uuidv7', () => {
  const FORMAT = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

  it('has the RFC 9562 layout: version 7, variant 10', () => {
    for (let i = 0; i < 100; i++) assert.match(uuidv7(), FORMAT);
  });

  it('puts the millisecond timestamp in the first 48 bits', () => {
    const ms = Date.UTC(2026, 10, 22, 10, 0, 0, 123);
    const id = uuidv7(ms);
    assert.match(id, FORMAT);
    assert.equal(parseInt(id.replace(/-/g, '').slice(0, 12), 16), ms);
    assert.ok(uuidv7(0).startsWith('00000000-0000-7'));
    assert.throws(() => uuidv7(2 ** 48), RangeError);
  });

  it('is strictly increasing across many ids made in the same millisecond', () => {
    const ids = Array.from({ length: 5000 }, () => uuidv7());
    for (let i = 1; i < ids.length; i++) assert.ok(ids[i - 1]! < ids[i]!, `${ids[i - 1]} < ${ids[i]}`);
    assert.equal(new Set(ids).size, ids.length);
  });

  it('sorts by timestamp across milliseconds', () => {
    assert.ok(uuidv7(1_700_000_000_000) < uuidv7(1_700_000_000_001));
  });
});
