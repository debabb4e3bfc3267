// HTTP load on loopback: CONCURRENCY keep-alive connections for DURATION_MS, each sending its next request
// when the last one answered (closed loop), or, given RATE (requests per second in all), no sooner than
// its turn in an even schedule (paced: the same request rhythm for every variant, below their capacity).
// Prints {requests, errors, p50Ms, p99Ms} as JSON.
//   node loadgen.mjs URL DURATION_MS CONCURRENCY [RATE]
import { Agent, request } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';

const [url, durationMs, concurrency, rate] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4]), Number(process.argv[5] ?? 0)];
const target = new URL(url);
const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
const latencies = [];
let errors = 0;
const start = performance.now();
const deadline = start + durationMs;

function once() {
  return new Promise((resolve) => {
    const begin = performance.now();
    const req = request({ host: target.hostname, port: target.port, path: target.pathname, agent }, (res) => {
      res.resume();
      res.on('end', () => {
        if (res.statusCode === 200) latencies.push(performance.now() - begin);
        else errors++;
        resolve();
      });
    });
    req.on('error', () => {
      errors++;
      resolve();
    });
    req.end();
  });
}

async function worker(index) {
  // Paced: worker i sends at start + (i + k·concurrency) / rate; a late request goes at once.
  const interval = rate > 0 ? (1000 * concurrency) / rate : 0;
  let next = start + (rate > 0 ? (1000 * index) / rate : 0);
  while (performance.now() < deadline) {
    const wait = next - performance.now();
    if (wait > 0) await sleep(wait);
    if (performance.now() >= deadline) break;
    await once();
    next += interval;
  }
}

await Promise.all(Array.from({ length: concurrency }, (_, i) => worker(i)));
latencies.sort((a, b) => a - b);
const at = (q) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0;
process.stdout.write(JSON.stringify({ requests: latencies.length, errors, p50Ms: at(0.5), p99Ms: at(0.99) }));
agent.destroy();
