// Closed-loop HTTP load on loopback: CONCURRENCY keep-alive connections, each sending its next request
// when the last one answered, for DURATION_MS. Prints {requests, errors, p50Ms, p99Ms} as JSON.
import { Agent, request } from 'node:http';

const [url, durationMs, concurrency] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4])];
const target = new URL(url);
const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
const latencies = [];
let errors = 0;
const deadline = performance.now() + durationMs;

function once() {
  return new Promise((resolve) => {
    const start = performance.now();
    const req = request({ host: target.hostname, port: target.port, path: target.pathname, agent }, (res) => {
      res.resume();
      res.on('end', () => {
        if (res.statusCode === 200) latencies.push(performance.now() - start);
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

async function worker() {
  while (performance.now() < deadline) await once();
}

await Promise.all(Array.from({ length: concurrency }, worker));
latencies.sort((a, b) => a - b);
const at = (q) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0;
process.stdout.write(JSON.stringify({ requests: latencies.length, errors, p50Ms: at(0.5), p99Ms: at(0.99) }));
agent.destroy();
