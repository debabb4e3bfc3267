// `./lookout demo`: the example system without Docker. The gateway, runs and worker services and the audit
// API start with the agent preloaded (`--import @lookout/agent/register`) and export to a local OTLP/gRPC
// receiver standing in for the Collector. A few requests go through, one with an injected fault, and the
// demo prints what an SRE would follow in Grafana: one request's trace across the services, its log lines,
// and the audit events stored with its trace id.
import { call, eventually, OtlpReceiver, type ReceivedSpan, type RunningApp, startExampleSystem, token } from '@lookout/testkit';

const receiver = new OtlpReceiver();
await receiver.start();
console.log(`OTLP/gRPC receiver (standing in for the Collector) on ${receiver.endpoint}`);
const system = await startExampleSystem({ otlpEndpoint: receiver.endpoint, worker: { WORKER_WORK_MS: '20-80', WORKER_FAILURE_RATIO: '0' } });
const { auditApi, gateway, runs, worker } = system;
console.log(`audit API ${auditApi.url}, gateway ${gateway.url}, runs ${runs.url}, worker ${worker.url}: all with --import @lookout/agent/register\n`);

// Whatever happens, the services and the databases the demo made are stopped and dropped.
try {
  async function send(method: string, path: string, headers: Record<string, string>, base = gateway.url, body?: unknown): Promise<Record<string, any>> {
    const res = await fetch(base + path, { method, headers: { ...headers, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined });
    const json = (await res.json()) as Record<string, any>;
    console.log(`${method} ${path} → ${res.status}  ${JSON.stringify(json.data?.id ? { id: json.data.id, status: json.data.status } : json).slice(0, 110)}`);
    return json;
  }

  const acme = { 'x-api-key': 'demo-key-acme' };
  const started = await send('POST', '/api/workflows/nightly-report/runs', { ...acme, 'x-request-id': 'demo-run-1' });
  const runId = started.data.id as string;
  await send('POST', '/api/workflows/invoice-sync/runs', { 'x-api-key': 'demo-key-globex' });
  await send('POST', '/api/workflows/nightly-report/runs', { 'x-api-key': 'wrong-key' });
  await send('PUT', '/admin/fault', {}, runs.url, { error_ratio: 1, duration_s: 60 });
  await send('POST', '/api/workflows/index-rebuild/runs', acme);
  await send('DELETE', '/admin/fault', {}, runs.url);

  const completed = await runs.waitForLine((l) => l.message === 'run completed' && l.run_id === runId, 15_000);
  const traceId = completed.trace_id as string;
  await receiver.waitFor('the run trace', () => receiver.spans.some((s) => s.traceId === traceId && s.attributes['http.route'] === '/runs/:id/result'));
  await receiver.waitFor('the request duration metric', () => receiver.metric('http.server.request.duration'));
  const reader = await token({ tenant: 'acme', scope: 'activity:read' });
  const events = await eventually('the audit events of the run', async () => {
    const page = await call<{ data: Array<Record<string, any>> }>(auditApi.url, 'GET', `/api/v1/activity?trace_id=${traceId}`, { token: reader });
    // runs records the start, the worker the outcome (and the gateway the key's authentication, at its first use).
    const actions = new Set(page.body.data.map((e) => e.action));
    return actions.has('workflow.run.started') && actions.has('workflow.run.completed') ? page.body.data : undefined;
  });

  console.log(`\nThe trace of run ${runId} (trace ${traceId}), one line per span, children indented:`);
  const spans = receiver.spans.filter((s) => s.traceId === traceId).sort((a, b) => a.spanId.localeCompare(b.spanId));
  const byParent = new Map<string, ReceivedSpan[]>();
  for (const span of spans) byParent.set(span.parentSpanId, [...(byParent.get(span.parentSpanId) ?? []), span]);
  const print = (span: ReceivedSpan, depth: number): void => {
    const status = span.attributes['http.response.status_code'] ?? '';
    console.log(`${'  '.repeat(depth + 1)}${span.resource['service.name']}: ${span.name} ${status}${span.status.code === 'STATUS_CODE_ERROR' ? ' (error)' : ''}`);
    for (const child of byParent.get(span.spanId) ?? []) print(child, depth + 1);
  };
  for (const root of spans.filter((s) => !spans.some((p) => p.spanId === s.parentSpanId))) print(root, 0);

  console.log('\nIts log lines (stdout JSON of every service, all carrying that trace id):');
  const lines = (app: RunningApp) => app.lines.filter((l): l is Record<string, unknown> => typeof l === 'object' && l.trace_id === traceId);
  for (const line of [gateway, runs, worker].flatMap(lines)) {
    console.log(`  ${line['service.name']}: ${line.message}  request_id=${line.request_id}${line.run_id ? ` run_id=${line.run_id}` : ''}`);
  }
  console.log(`  (${receiver.logs.filter((l) => l.traceId === traceId).length} of them also reached the OTLP receiver as log records with that trace id)`);

  console.log('\nIts audit events (GET /api/v1/activity?trace_id=…, tenant acme):');
  for (const e of events.reverse()) console.log(`  ${e.occurred_at}  ${e.action}  actor=${e.actor.type}:${e.actor.id}  request_id=${e.request_id}`);

  console.log('\nThe request that met the injected fault, as the runs service logged it:');
  const fault = runs.lines.find((l): l is Record<string, unknown> => typeof l === 'object' && l.message === 'answered 500 injected_fault' && l.path === '/workflows/index-rebuild/runs');
  console.log(' ', JSON.stringify(fault));

  console.log('\nMetrics received:', [...new Set(receiver.metrics.map((m) => m.name))].sort().join(', '));
} finally {
  await system.stop();
  await receiver.stop();
}
console.log('\nIn the compose stack the same path runs through Grafana: docs/sre-path.md.');
