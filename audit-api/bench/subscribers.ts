// A worker thread holding the stream benchmark's SSE subscribers, so that parsing 1,000 streams does not
// run on the event loop that serves them (subscribers are other processes in production). Reports each
// delivery as [event id, receipt time on the shared clock: performance.timeOrigin + performance.now()].
import { parentPort, workerData } from 'node:worker_threads';
import { SseReader } from '../test/fixtures/sse-reader.js';

const { url, headers, count } = workerData as { url: string; headers: Record<string, string>; count: number };
const port = parentPort!;
const readers: SseReader[] = [];
// The event's id is the first field of the public event: a slice instead of a JSON.parse per delivery.
const ID = /"id":"([^"]+)"/;

const drain = () => {
  const deliveries: [string, number][] = [];
  let closed = 0;
  for (const reader of readers) {
    if (reader.closed) closed++;
    for (const m of reader.drainEvents()) {
      const id = ID.exec(m.data ?? '')?.[1];
      if (id) deliveries.push([id, performance.timeOrigin + m.at!]);
    }
  }
  if (deliveries.length > 0 || closed > 0) port.postMessage({ kind: 'deliveries', deliveries, closed });
};

for (let i = 0; i < count; i++) {
  const reader = await SseReader.open(url, headers);
  if (reader.status !== 200) throw new Error(`subscriber ${i} answered ${reader.status}`);
  readers.push(reader);
}
const timer = setInterval(drain, 20);
port.postMessage({ kind: 'ready' });
port.on('message', (message: { kind: string }) => {
  if (message.kind !== 'close') return;
  clearInterval(timer);
  drain();
  for (const reader of readers) reader.close();
  port.postMessage({ kind: 'closed' });
  port.close();
});
