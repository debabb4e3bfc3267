// A worker thread posting bench:audit's ingest load to the batch endpoint: `count` events from `start`, in
// batches, `concurrency` requests in flight. Posts back rows/s, timed from the first request to the last answer.
// `minimal`: with `Prefer: return=minimal`, as the agent's audit client sends its batches (no body in the answer).
import { parentPort, workerData } from 'node:worker_threads';
import { bodies } from './events.js';

const { base, jwt, count, start, batch, concurrency, path, minimal } = workerData as { base: string; jwt: string; count: number; start: number; batch: number; concurrency: number; path: string; minimal: boolean };
const headers = { authorization: `Bearer ${jwt}`, 'content-type': 'application/json', ...(minimal ? { prefer: 'return=minimal' } : {}) };
// Events are made before the clock starts and serialised within it, as the COPY variant's rows and lines are.
const batches: Record<string, unknown>[][] = [];
for (let i = 0; i < count; i += batch) batches.push(bodies(Math.min(batch, count - i), start + i));
const t0 = performance.now();
let next = 0;
await Promise.all(
  Array.from({ length: concurrency }, async () => {
    while (next < batches.length) {
      const body = JSON.stringify({ events: batches[next++]! });
      const res = await fetch(`${base}${path}`, { method: 'POST', headers, body });
      if (res.status !== 201) throw new Error(`batch answered ${res.status}: ${await res.text()}`);
      await res.arrayBuffer();
    }
  }),
);
parentPort!.postMessage(count / ((performance.now() - t0) / 1000));
