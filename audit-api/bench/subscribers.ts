// A worker thread holding a share of the stream benchmark's SSE subscribers (bench/audit.ts splits them over
// threads), so that reading 1,000 streams does not run on the event loop that serves them (subscribers are other
// processes in production). It works out the latencies itself: the main thread tells it when each event was sent
// ('sent'), and it answers only a count now and then and the latencies at the end, so the work of measuring does
// not grow on the measured loop with the number of subscribers (it did when every delivery was posted back).
//
// Each stream is read as lean as a client can: the time a chunk arrives and the event ids in it, found as text
// (the frame is `id: …\nevent: activity\ndata: {"id":"<uuid>",…`), with no parsing into messages. The tests' SSE
// reader (test/fixtures/sse-reader.ts) took 18.6 µs of this thread per delivery, which at 1,000 subscribers was
// more client work per event (18.6 ms, serially) than the service's own writes to them (8.6 ms).
import { request } from 'node:http';
import { parentPort, workerData } from 'node:worker_threads';

const { url, headers, count } = workerData as { url: string; headers: Record<string, string>; count: number };
const port = parentPort!;
// The public event's first field is its id: a UUID of 36 characters.
const DATA = 'data: {"id":"';
const ID_LENGTH = 36;
const sentAt = new Map<string, number>();
const lags: number[] = [];
/** Deliveries seen before the main thread's 'sent' for their event arrived. */
let early: [string, number][] = [];
let closed = 0;
const requests: { destroy(): void }[] = [];

function delivered(id: string, at: number): void {
  const sent = sentAt.get(id);
  if (sent === undefined) early.push([id, at]);
  else lags.push(at - sent);
}

function subscribe(): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { accept: 'text/event-stream', ...headers } }, (res) => {
      if (res.statusCode !== 200) return reject(new Error(`a subscriber was answered ${res.statusCode}`));
      res.once('close', () => closed++);
      let tail = '';
      res.on('data', (chunk: Buffer) => {
        const at = performance.timeOrigin + performance.now();
        const text = tail + chunk.toString('latin1');
        let from = 0;
        for (let i = text.indexOf(DATA); i !== -1; i = text.indexOf(DATA, from)) {
          const start = i + DATA.length;
          if (start + ID_LENGTH > text.length) break; // the id continues in the next chunk
          delivered(text.slice(start, start + ID_LENGTH), at);
          from = start + ID_LENGTH;
        }
        // What may hold the start of a frame cut by the chunk boundary.
        tail = text.slice(Math.max(from, text.length - DATA.length - ID_LENGTH));
      });
      resolve();
    });
    req.on('error', reject);
    requests.push(req);
    req.end();
  });
}

for (let i = 0; i < count; i++) await subscribe();

const settle = () => {
  const waiting: [string, number][] = [];
  for (const [id, at] of early) {
    const sent = sentAt.get(id);
    if (sent === undefined) waiting.push([id, at]);
    else lags.push(at - sent);
  }
  early = waiting;
};
const timer = setInterval(settle, 20);
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
  settle();
  const busy = performance.eventLoopUtilization(startElu).utilization;
  for (const req of requests) req.destroy();
  port.postMessage({ kind: 'closed', lags: Float64Array.from(lags), closed, busy });
  port.close();
});
