// The audit wire contract's event ids: UUIDv7 layout, timestamp, and per-process order.
import assert from 'node:assert/strict';
import { uuidv7 } from '../src/audit/contract.js';

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const timestampOf = (id: string) => parseInt(id.replace(/-/g, '').slice(0, 12), 16);
const randAOf = (id: string) => parseInt(id.slice(15, 18), 16);

/** Runs `fn` with Date.now() answering from `clock`. */
function withClock<T>(clock: () => number, fn: () => T): T {
  const original = Date.now;
  Date.now = clock;
  try {
    return fn();
  } finally {
    Date.now = original;
  }
}

describe('uuidv7', () => {
  it('has the RFC 9562 layout: version 7, variant 10', () => {
    for (let i = 0; i < 100; i++) assert.match(uuidv7(), UUID_V7);
  });

  it('puts the millisecond timestamp in the first 48 bits', () => {
    const ms = Date.UTC(2026, 10, 22, 10, 0, 0, 123);
    const id = uuidv7(ms);
    assert.match(id, UUID_V7);
    assert.equal(timestampOf(id), ms);
    assert.ok(uuidv7(0).startsWith('00000000-0000-7'));
    assert.equal(timestampOf(uuidv7(2 ** 48 - 1)), 2 ** 48 - 1);
    assert.throws(() => uuidv7(2 ** 48), RangeError);
    for (const bad of [-1, 1.5, Number.NaN, Infinity]) assert.throws(() => uuidv7(bad), RangeError, String(bad));
  });

  it('is strictly increasing across many ids made in the same millisecond', () => {
    const ids = Array.from({ length: 5000 }, () => uuidv7());
    for (let i = 1; i < ids.length; i++) assert.ok(ids[i - 1]! < ids[i]!, `${ids[i - 1]} < ${ids[i]}`);
    assert.equal(new Set(ids).size, ids.length);
  });

  it('makes ids that sort in the order they were made, stamped with the Unix time in milliseconds', () => {
    const ids = Array.from({ length: 10_000 }, () => uuidv7());
    for (const id of ids) assert.match(id, UUID_V7);
    assert.deepEqual([...ids].sort(), ids, 'ids made later sort later, even within one millisecond');
    assert.equal(new Set(ids).size, ids.length);
    assert.ok(Math.abs(timestampOf(ids[0]!) - Date.now()) < 5000, 'the first 48 bits are the Unix time in milliseconds');
  });

  it('stays in order past 4096 ids in one millisecond and across a clock step backwards, borrowing the next milliseconds', () => {
    const start = Date.now() + 50; // later than any id made so far, and soon reached: later ids are not stamped far ahead
    const ids = withClock(() => start, () => Array.from({ length: 5000 }, () => uuidv7()));
    ids.push(...withClock(() => start - 1000, () => Array.from({ length: 10 }, () => uuidv7())));
    for (let i = 1; i < ids.length; i++) assert.ok(ids[i - 1]! < ids[i]!, `${ids[i - 1]} < ${ids[i]}`);
    assert.equal(timestampOf(ids[0]!), start);
    assert.ok(randAOf(ids[0]!) < 0x800, 'a new millisecond starts its counter in the lower half');
    assert.ok(timestampOf(ids.at(-1)!) > start, 'the later ids borrowed the next millisecond');
  });

  it('sorts by timestamp across milliseconds', () => {
    assert.ok(uuidv7(1_700_000_000_000) < uuidv7(1_700_000_000_001));
  });

  it('with an explicit timestamp fills rand_a with random bits, not the counter', () => {
    const randA = new Set(Array.from({ length: 200 }, () => randAOf(uuidv7(1_700_000_000_000))));
    assert.ok(randA.size > 100, `${randA.size} distinct rand_a values in 200 ids`);
    assert.ok([...randA].some((value) => value >= 0x800), 'the upper half too');
  });
});
