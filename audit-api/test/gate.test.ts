// The store's bound on concurrent ingest transactions.
import assert from 'node:assert/strict';
import { describe, it } from 'mocha';
import { Gate } from '../src/store/gate.js';

describe('Gate', () => {
  it('runs at most `limit` at once, the rest in arrival order, and frees its slot when work fails', async () => {
    const gate = new Gate(2);
    let running = 0;
    let most = 0;
    const started: number[] = [];
    const work = (i: number) =>
      gate.run(async () => {
        started.push(i);
        most = Math.max(most, ++running);
        await new Promise((resolve) => setTimeout(resolve, 5));
        running--;
        if (i === 1) throw new Error('fails');
        return i;
      });
    const results = await Promise.allSettled([0, 1, 2, 3, 4, 5].map(work));
    assert.equal(most, 2);
    assert.deepEqual(started, [0, 1, 2, 3, 4, 5]);
    assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled', 'fulfilled', 'fulfilled', 'fulfilled']);
    assert.equal(await gate.run(async () => 'free again'), 'free again');
  });
});
