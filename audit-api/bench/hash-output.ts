// What node:crypto's one-shot hash costs by output encoding, for a 300-byte line (an audit event's canonical
// form is about that): `npx tsx bench/hash-output.ts` in audit-api/. Behind hash.ts's choice of a latin1 string
// over a Buffer for lineHash() (docs/benchmarks.md, "How issue 15's targets moved").
import { hash } from 'node:crypto';

const LINES = 1000;
const ROUNDS = 1000;
const data = Buffer.alloc(300 * LINES, 65);
const lines = Array.from({ length: LINES }, (_, i) => data.subarray(i * 300, i * 300 + 300));
for (const round of [1, 2]) {
  for (const encoding of ['buffer', 'hex', 'binary', 'base64'] as const) {
    const t0 = performance.now();
    for (let r = 0; r < ROUNDS; r++) for (const line of lines) hash('sha256', line, encoding as 'hex');
    console.log(`pass ${round}: ${encoding.padEnd(7)} ${((performance.now() - t0) / (LINES * ROUNDS) * 1000).toFixed(3)} µs per hash`);
  }
}
