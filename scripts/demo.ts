// `./lookout demo`: two services with the agent preloaded (a Koa ESM app and a CommonJS http app) call
// each other and PostgreSQL while a local OTLP/gRPC receiver shows what the agent exported.
import { OtlpReceiver, type ReceivedSpan } from '../agent/test/fixtures/otlp-receiver.js';
import { spawnApp } from '../agent/test/fixtures/spawn-app.js';

const receiver = new OtlpReceiver();
await receiver.start();
console.log(`OTLP/gRPC receiver on ${receiver.endpoint}`);

const downstream = await spawnApp('cjs-app.cjs', { env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, OTEL_SERVICE_NAME: 'downstream' } });
const shop = await spawnApp('esm-app.mjs', {
  env: {
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
    OTEL_SERVICE_NAME: 'shop',
    DATABASE_URL: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
    DOWNSTREAM_URL: downstream.url,
  },
});
console.log(`shop (ESM, Koa) on ${shop.url}, downstream (CommonJS, http) on ${downstream.url}, both started with --import @lookout/agent/register\n`);

for (const path of ['/hello/ann', '/chain', '/db', '/fail']) {
  const res = await fetch(shop.url + path, { headers: { 'x-request-id': `demo${path.replaceAll('/', '-')}` } });
  console.log(`GET ${path} → ${res.status}  x-request-id: ${res.headers.get('x-request-id')}`);
  await res.arrayBuffer();
}

await receiver.waitFor('the chained trace', () => receiver.spans.some((s) => s.resource['service.name'] === 'downstream'));
await receiver.waitFor('the request duration metric', () => receiver.metric('http.server.request.duration'));
await Promise.all([shop.stop(), downstream.stop()]);

console.log('\nTraces (one line per span, children indented):');
const byParent = new Map<string, ReceivedSpan[]>();
for (const span of receiver.spans) byParent.set(span.parentSpanId, [...(byParent.get(span.parentSpanId) ?? []), span]);
const print = (span: ReceivedSpan, depth: number): void => {
  const status = span.attributes['http.response.status_code'] ?? '';
  console.log(`${'  '.repeat(depth + 1)}${span.resource['service.name']}: ${span.name} ${status} ${span.status.code === 'STATUS_CODE_ERROR' ? '(error)' : ''}`);
  for (const child of byParent.get(span.spanId) ?? []) print(child, depth + 1);
};
for (const root of byParent.get('') ?? []) {
  console.log(`  trace ${root.traceId} request_id=${root.attributes.request_id ?? '-'}`);
  print(root, 0);
}

console.log('\nMetrics received:', [...new Set(receiver.metrics.map((m) => m.name))].sort().join(', '));
console.log('\nLog records (trace id, body):');
for (const log of receiver.logs) console.log(`  ${log.traceId || '-'.padEnd(32)}  ${log.resource['service.name']}: ${String(log.body)}`);
console.log('\nA stdout JSON line from the shop:');
console.log(' ', JSON.stringify(shop.lines.find((l) => typeof l === 'object' && 'trace_id' in l)));
await receiver.stop();
