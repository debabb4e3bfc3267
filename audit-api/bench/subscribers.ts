// A worker thread holding a share of the stream benchmark's SSE subscribers (bench/audit.ts splits them over threads), so that parsing 1,000 streams does not
// run on the event loop that serves them (subscribers are other processes in production). It also works out
// the latencies itself: the main thread tells it when each event was sent ('sent'), and it answers only a
// count now and then and the latencies at the end, so the work of measuring does not grow on the measured
// loop with the number of subscribers (it did when every delivery was posted back).
import { parentPort, workerData } from 'node:worker_threads';
import { SseReader } from '../test/fixtures/sse-reader.js';

const { url, headers, count } = workerData as { url: string; headers: Record<string, string>; count: number };
const port = parentPort!;
const readers: SseReader[] = [];
// The event's id is the first field of the public event: a slice instead of a JSON.parse per delivery.
const ID = /"id":"([^"]+)"/;
const sentAt = new Map<string, number>();
const lags: number[] = [];
/** Deliveries seen before the main thread's 'sent' for their event arrived. */
let early: [string, number][] = [];
let closed = 0;

const drain = () => {
  closed = 0;
  for (const reader of readers) {
    if (reader.closed) closed++;
    for (const m of reader.drainEvents()) {
      const id = ID.exec(m.data ?? '')?.[1];
      if (id) early.push([id, performance.timeOrigin + m.at!]);
    }
  }
  const waiting: [string, number][] = [];
  for (const [id, at] of early) {
    const t = sentAt.get(id);
    if (t === undefined) waiting.push([id, at]);
    else lags.push(at - t);
  }
  early = waiting;
};

for (let i = 0; i < count; i++) {
  const reader = await SseReader.open(url, headers, { keep: false });
  if (reader.status !== 200) throw new Error(`subscriber ${i} answered ${reader.status}`);
  readers.push(reader);
}
const timer = setInterval(drain, 20);
const progress = setInterval(() => port.postMessage({ kind: 'count', deliveries: lags.length, closed }), 200);
// How busy this thread was between ready and close: the bench reports it, since a saturated reader shows up as latency.
const startElu = performance.eventLoopUtilization();
port.postMessage({ kind: 'ready' });
port.on('message', (message: { kind: string; id?: string; at?: number }) => {
  if (message.kind === 'sent') {
    sentAt.set(message.id!, message.at!);
    return;
  }
  if (message.kind !== 'close') return;
  clearInterval(timer);
  clearInterval(progress);
  drain();
  for (const reader of readers) reader.close();
  port.postMessage({ kind: 'closed', lags: Float64Array.from(lags), closed, busy: performance.eventLoopUtilization(startElu).utilization });
  port.close();
});
