// The example system end to end, as docker-compose runs it but on loopback: gateway → runs (PostgreSQL) →
// worker → runs, each compiled and started with `--import @lookout/agent/register`, the real audit API on
// a real PostgreSQL, and a real OTLP/gRPC receiver standing in for the Collector.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'mocha';
import { call, eventually, EXAMPLES_DIR, type ExampleSystem, freePort, JWT_SECRET, OtlpReceiver, PRELOAD, type ReceivedSpan, type RunningApp, startExampleSystem, token } from '@lookout/testkit';

const API_KEY = 'demo-key-acme'; // tenant acme, user alice (config.ts DEMO_API_KEYS)

function objects(app: RunningApp): Record<string, unknown>[] {
  return app.lines.filter((l): l is Record<string, unknown> => typeof l === 'object' && l !== null);
}

describe('the example services with the agent, the audit API and an OTLP receiver', function () {
  let receiver: OtlpReceiver;
  let system: ExampleSystem;
  let auditApi: RunningApp;
  let runs: RunningApp;
  let worker: RunningApp;
  let gateway: RunningApp;

  before(async function () {
    this.timeout(90_000);
    receiver = new OtlpReceiver();
    await receiver.start();
    system = await startExampleSystem({ otlpEndpoint: receiver.endpoint, worker: { WORKER_WORK_MS: '5-20', WORKER_FAILURE_RATIO: '0' } });
    ({ auditApi, runs, worker, gateway } = system);
  });

  after(async () => {
    await system?.stop();
    await receiver?.stop();
  });

  it('carries one trace id from the caller through gateway, runs, worker and back, on every log line of the run and in the audit events of each service', async () => {
    const traceId = randomBytes(16).toString('hex');
    const callerSpanId = randomBytes(8).toString('hex');
    // A request id with every character the agent keeps (base64 and e-mail-like ids), which the audit API must take too.
    const res = await call(gateway.url, 'POST', '/api/workflows/nightly-report/runs', {
      headers: { 'x-api-key': API_KEY, traceparent: `00-${traceId}-${callerSpanId}-01`, 'x-request-id': 'e2e/run+1@acme=' },
    });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    assert.equal(res.headers.get('x-request-id'), 'e2e/run+1@acme=');
    const runId = res.body.data.id as string;
    assert.equal(res.body.data.status, 'queued');

    // The run finishes asynchronously on the worker, which reports back to the runs service.
    await runs.waitForLine((l) => l.message === 'run completed' && l.run_id === runId, 15_000);

    // Traces: every hop is in the caller's trace, and the spans form one tree under the caller's span.
    const hops = {
      gatewayServer: (s: ReceivedSpan) => s.resource['service.name'] === 'gateway' && s.kind === 'SPAN_KIND_SERVER' && s.attributes['http.route'] === '/api/workflows/:workflowId/runs',
      runsServer: (s: ReceivedSpan) => s.resource['service.name'] === 'runs' && s.kind === 'SPAN_KIND_SERVER' && s.attributes['http.route'] === '/workflows/:workflowId/runs',
      runsInsert: (s: ReceivedSpan) => s.resource['service.name'] === 'runs' && s.attributes['db.system.name'] === 'postgresql' && String(s.attributes['db.query.text'] ?? '').includes('insert'),
      workerEnqueue: (s: ReceivedSpan) => s.resource['service.name'] === 'worker' && s.kind === 'SPAN_KIND_SERVER' && s.attributes['http.route'] === '/jobs',
      workerProcess: (s: ReceivedSpan) => s.resource['service.name'] === 'worker' && s.kind === 'SPAN_KIND_CONSUMER' && s.name === 'process workflow-runs',
      runsResult: (s: ReceivedSpan) => s.resource['service.name'] === 'runs' && s.kind === 'SPAN_KIND_SERVER' && s.attributes['http.route'] === '/runs/:id/result',
      runsUpdate: (s: ReceivedSpan) => s.resource['service.name'] === 'runs' && s.attributes['db.system.name'] === 'postgresql' && String(s.attributes['db.query.text'] ?? '').includes('update'),
    };
    const inTrace = () => receiver.spans.filter((s) => s.traceId === traceId);
    for (const [hop, match] of Object.entries(hops)) await receiver.waitFor(`the ${hop} span in trace ${traceId}`, () => inTrace().find(match));
    const spans = inTrace();
    const ids = new Set(spans.map((s) => s.spanId));
    for (const span of spans) {
      assert.ok(span.parentSpanId === callerSpanId || ids.has(span.parentSpanId), `${span.resource['service.name']} "${span.name}" hangs off the tree (parent ${span.parentSpanId})`);
    }
    assert.equal(spans.find(hops.gatewayServer)!.parentSpanId, callerSpanId);
    // LOOKOUT_RESPONSE_HEADERS=traceresponse: the caller learns which span of its trace answered.
    assert.equal(res.headers.get('traceresponse'), `00-${traceId}-${spans.find(hops.gatewayServer)!.spanId}-01`);
    assert.equal(spans.find(hops.workerProcess)!.attributes['messaging.message.id'], runId);

    // Logs: every line any service wrote about this run carries the trace id and the caller's request id.
    const runLines = [gateway, runs, worker].flatMap(objects).filter((l) => l.run_id === runId);
    assert.deepEqual(new Set(runLines.map((l) => l.message)), new Set(['run queued', 'run started', 'run finished', 'run completed']));
    for (const line of runLines) {
      assert.equal(line.trace_id, traceId, `log line ${JSON.stringify(line)}`);
      assert.equal(line.request_id, 'e2e/run+1@acme=', `log line ${JSON.stringify(line)}`);
      assert.match(String(line.span_id), /^[0-9a-f]{16}$/);
    }
    // …and the same records reached the OTLP receiver with the trace id set on the record itself.
    await receiver.waitFor('the run log records over OTLP', () => ['run queued', 'run started', 'run finished', 'run completed'].every((body) => receiver.logs.some((r) => r.body === body && r.traceId === traceId)) || undefined);

    // Audit: each service records what happened there, all with the trace id and the request id: the gateway the
    // API key's authentication (the key's first use), runs the start, the worker the outcome.
    const reader = await token({ tenant: 'acme', scope: 'activity:read' });
    const events = await eventually(
      'the audit events of the run',
      async () => {
        const page = await call(auditApi.url, 'GET', `/api/v1/activity?trace_id=${traceId}`, { token: reader });
        assert.equal(page.status, 200, JSON.stringify(page.body));
        return page.body.data.length === 3 ? (page.body.data as Array<Record<string, any>>) : undefined;
      },
      15_000,
    );
    const byAction = Object.fromEntries(events.map((e) => [e.action, e]));
    assert.deepEqual(Object.keys(byAction).sort(), ['auth.api_key.accepted', 'workflow.run.completed', 'workflow.run.started']);
    assert.deepEqual([byAction['workflow.run.started']!.actor.type, byAction['workflow.run.started']!.actor.id], ['user', 'alice']);
    assert.deepEqual(byAction['workflow.run.started']!.object, { type: 'workflow_run', id: runId });
    assert.deepEqual(byAction['workflow.run.started']!.metadata, { workflow_id: 'nightly-report', run_id: runId, trigger: 'api' });
    assert.deepEqual(byAction['workflow.run.completed']!.actor, { type: 'service', id: 'worker', display: null });
    assert.deepEqual(Object.keys(byAction['workflow.run.completed']!.metadata).sort(), ['duration_ms', 'run_id', 'workflow_id']);
    assert.deepEqual([byAction['auth.api_key.accepted']!.actor.id, byAction['auth.api_key.accepted']!.metadata.path], ['alice', '/api/workflows/nightly-report/runs']);
    for (const event of events) {
      assert.equal(event.trace_id, traceId);
      assert.equal(event.request_id, 'e2e/run+1@acme=');
    }
    // The tenant comes from the API key: another tenant's reader sees none of it.
    const other = await call(auditApi.url, 'GET', `/api/v1/activity?trace_id=${traceId}`, { token: await token({ tenant: 'globex', scope: 'activity:read' }) });
    assert.deepEqual(other.body.data, []);

    const fetched = await call(gateway.url, 'GET', `/api/runs/${runId}`, { headers: { 'x-api-key': API_KEY } });
    assert.equal(fetched.status, 200);
    assert.equal(fetched.body.data.status, 'completed');
    const hidden = await call(gateway.url, 'GET', `/api/runs/${runId}`, { headers: { 'x-api-key': 'demo-key-globex' } });
    assert.equal(hidden.status, 404);
    assert.equal(hidden.body.error.code, 'run_not_found');
  });

  it('exports the service instruments: worker queue depth and processing duration, runs pool gauges', async () => {
    const depth = await receiver.waitFor('worker queue depth', () => receiver.metric('lookout.worker.queue.depth'));
    assert.equal(depth.resource['service.name'], 'worker');
    assert.equal(depth.points[0]!.attributes.queue, 'workflow-runs');
    const processing = await receiver.waitFor('worker processing duration', () => receiver.metric('lookout.worker.processing.duration'));
    assert.equal(processing.unit, 's');
    const point = processing.points.find((p) => p.attributes.operation === 'workflow.run' && p.attributes.outcome === 'success');
    assert.ok(point && point.count! >= 1, JSON.stringify(processing.points));
    const pool = await receiver.waitFor('runs pool gauges', () => receiver.metrics.findLast((m) => m.name === 'db.client.connection.count' && m.resource['service.name'] === 'runs'));
    assert.deepEqual(new Set(pool.points.map((p) => p.attributes['db.client.connection.state'])), new Set(['used', 'idle']));
    assert.ok(pool.points.every((p) => p.attributes['db.client.connection.pool.name'] === 'runs-db'));
  });

  it('answers /health, /health/db and /health/dependencies on every service, from the one implementation in the agent', async () => {
    const hook = await system.spawnExample('alert-webhook', { PORT: '0' });
    try {
      const { version } = JSON.parse(readFileSync(join(EXAMPLES_DIR, 'package.json'), 'utf8')) as { version: string };
      // Each service: its database (or none), and its dependencies as [status, required].
      const expected: Record<string, { app: RunningApp; database: 'up' | 'none'; dependencies: Record<string, [string, boolean]> }> = {
        gateway: { app: gateway, database: 'none', dependencies: { runs: ['up', true], 'audit-api': ['up', false] } },
        runs: { app: runs, database: 'up', dependencies: { database: ['up', true], worker: ['up', true], 'audit-api': ['up', false] } },
        worker: { app: worker, database: 'none', dependencies: { runs: ['up', true], 'audit-api': ['up', false] } },
        'alert-webhook': { app: hook, database: 'none', dependencies: {} },
      };
      for (const [name, want] of Object.entries(expected)) {
        const live = await call(want.app.url, 'GET', '/health');
        assert.equal(live.status, 200, name);
        assert.deepEqual([live.body.status, live.body.version], ['ok', version], name);
        assert.ok(!Number.isNaN(Date.parse(live.body.timestamp)) && live.body.uptime_seconds >= 0, `${name}: ${JSON.stringify(live.body)}`);

        const db = await call(want.app.url, 'GET', '/health/db');
        assert.equal(db.status, 200, `${name}: ${JSON.stringify(db.body)}`);
        assert.equal(db.body.status, 'ok', name);
        if (want.database === 'none') assert.equal(db.body.database, 'none', name);
        else assert.deepEqual([db.body.database.status, typeof db.body.database.latency_ms], ['up', 'number'], name);

        const deps = await call(want.app.url, 'GET', '/health/dependencies');
        assert.equal(deps.status, 200, `${name}: ${JSON.stringify(deps.body)}`);
        assert.equal(deps.body.status, 'ok', name);
        const got = Object.fromEntries(Object.entries(deps.body.dependencies as Record<string, { status: string; required: boolean }>).map(([dep, d]) => [dep, [d.status, d.required]]));
        assert.deepEqual(got, want.dependencies, name);

        assert.equal((await call(want.app.url, 'GET', '/health/ready')).status, 404, `${name}: /health/ready is gone`);
      }
    } finally {
      await hook.stop();
    }
  });

  it('answers bad input with a clear error: status, code and the offending field', async () => {
    const noKey = await call(gateway.url, 'POST', '/api/workflows/nightly-report/runs', {});
    assert.equal(noKey.status, 401);
    assert.deepEqual(noKey.body.error, { code: 'invalid_api_key', message: 'send a valid API key in the x-api-key header', field: 'x-api-key' });
    const badWorkflow = await call(gateway.url, 'POST', '/api/workflows/Not%20A%20Workflow/runs', { headers: { 'x-api-key': API_KEY } });
    assert.equal(badWorkflow.status, 400);
    assert.equal(badWorkflow.body.error.field, 'workflowId');
    const badFault = await call(runs.url, 'PUT', '/admin/fault', { body: { error_ratio: 2 } });
    assert.equal(badFault.status, 400);
    assert.deepEqual([badFault.body.error.code, badFault.body.error.field], ['invalid_fault', 'error_ratio']);
    const badResult = await call(runs.url, 'POST', `/runs/${'0'.repeat(8)}-0000-0000-0000-${'0'.repeat(12)}/result`, { headers: { 'x-tenant-id': 'acme' }, body: { status: 'done', duration_ms: 1 } });
    assert.equal(badResult.status, 400);
    assert.equal(badResult.body.error.field, 'status');
    const wrongMethod = await call(gateway.url, 'DELETE', '/api/runs', { headers: { 'x-api-key': API_KEY } });
    assert.deepEqual([wrongMethod.status, wrongMethod.body.error.code, wrongMethod.headers.get('allow')], [405, 'method_not_allowed', 'HEAD, GET']);
    const nowhere = await call(gateway.url, 'GET', '/api/nowhere', {});
    assert.deepEqual([nowhere.status, nowhere.body.error.code], [404, 'not_found']);
    const badJob = await call(worker.url, 'POST', '/jobs', { body: { run_id: 'r1', tenant_id: 'acme' } });
    assert.deepEqual([badJob.status, badJob.body.error.field], [400, 'workflow_id']);
    const pathJob = await call(worker.url, 'POST', '/jobs', { body: { run_id: '../../admin/fault', tenant_id: 'acme', workflow_id: 'w' } });
    assert.deepEqual([pathJob.status, pathJob.body.error.message], [400, 'run_id must be a UUID']);
  });

  it('injects an error spike with `traffic inject errors`, which the traffic generator sees as 502s, until `inject clear`', async () => {
    const traffic = (...args: string[]) =>
      promisify(execFile)(process.execPath, [...PRELOAD, 'dist/src/traffic.js', ...args], {
        cwd: EXAMPLES_DIR,
        env: { PATH: process.env.PATH, ...system.common, OTEL_SERVICE_NAME: 'traffic', GATEWAY_URL: gateway.url, RUNS_URL: runs.url, WORKER_URL: worker.url },
        timeout: 30_000,
      });
    const lines = (out: string) => out.trim().split('\n').map((l) => JSON.parse(l) as Record<string, any>);

    const injected = lines((await traffic('inject', 'errors', '--service', 'runs', '--ratio', '1', '--for', '2m')).stdout);
    assert.deepEqual([injected[0]!.status, injected[0]!.fault.active, injected[0]!.fault.error_ratio], [200, true, 1]);
    const failing = await call(gateway.url, 'POST', '/api/workflows/invoice-sync/runs', { headers: { 'x-api-key': API_KEY } });
    assert.equal(failing.status, 502);
    assert.equal(failing.body.error.code, 'upstream_error');
    await runs.waitForLine((l) => l.message === 'answered 500 injected_fault');

    const spiked = lines((await traffic('run', '--rps', '20', '--duration', '1s')).stdout).find((l) => l.message === 'traffic report' && l.requests > 0)!;
    assert.ok(spiked.by_status['502'] >= 10, JSON.stringify(spiked));
    assert.equal(spiked.by_status['201'], undefined, JSON.stringify(spiked));

    const cleared = lines((await traffic('inject', 'clear', '--service', 'runs')).stdout);
    assert.equal(cleared[0]!.fault.active, false);
    const healthy = lines((await traffic('run', '--rps', '20', '--duration', '1s')).stdout).find((l) => l.message === 'traffic report' && l.requests > 0)!;
    assert.ok(healthy.by_status['201'] >= 5, JSON.stringify(healthy));
    assert.equal(healthy.by_status['502'], undefined, JSON.stringify(healthy));

    const slow = lines((await traffic('inject', 'slow', '--service', 'worker', '--delay', '250ms', '--for', '1m')).stdout);
    assert.deepEqual([slow[0]!.fault.delay_ms, slow[0]!.fault.error_ratio], [250, 0]);
    const slowed = lines((await traffic('run', '--rps', '10', '--duration', '1s')).stdout).find((l) => l.message === 'traffic report' && l.requests > 0)!;
    assert.ok(slowed.p50_ms >= 250, JSON.stringify(slowed));
    await traffic('inject', 'clear', '--service', 'worker');

    const usage = await traffic('inject', 'errors', '--service', 'nowhere').then(
      () => assert.fail('an unknown service must fail'),
      (err: { code: number; stdout: string }) => err,
    );
    assert.equal(usage.code, 2);
    assert.match(lines(usage.stdout)[0]!.message, /--service "nowhere" must be one of gateway, runs, worker/);
  });

  it('records API key authentication at the gateway: accepted once per interval, refused with a reason, rate limited with 429; never the key', async () => {
    const secretKey = `sk-e2e-${randomBytes(12).toString('hex')}`;
    const wrongKey = `sk-wrong-${randomBytes(12).toString('hex')}`;
    const hmacKey = 'e2e-api-key-hmac-key-0123456789';
    const idOf = (key: string) => createHmac('sha256', hmacKey).update(key).digest('hex').slice(0, 32);
    const limited = await system.spawnExample('gateway', {
      PORT: '0',
      RUNS_URL: runs.url,
      LOOKOUT_AUDIT_URL: auditApi.url,
      LOOKOUT_AUDIT_JWT_SECRET: JWT_SECRET,
      API_KEYS: `${secretKey}:acme:carol`,
      API_KEY_HMAC_KEY: hmacKey,
      GATEWAY_RATE_LIMIT_RPS: '0.01',
      GATEWAY_RATE_LIMIT_BURST: '3',
    });
    try {
      const send = (key: string | undefined, requestId: string) => call(limited.url, 'GET', '/api/runs', { headers: { ...(key === undefined ? {} : { 'x-api-key': key }), 'x-request-id': requestId } });
      for (let i = 0; i < 3; i++) assert.equal((await send(secretKey, `e2e-key-ok-${i}`)).status, 200);
      const over = await send(secretKey, 'e2e-key-limited');
      assert.deepEqual([over.status, over.body.error.code], [429, 'rate_limited']);
      assert.ok(Number(over.headers.get('retry-after')) >= 1, `Retry-After ${over.headers.get('retry-after')}`);
      assert.equal((await send(secretKey, 'e2e-key-limited-again')).status, 429);
      const tag = randomBytes(4).toString('hex');
      for (const [key, id] of [[undefined, `e2e-key-missing-${tag}`], [wrongKey, 'e2e-key-wrong-1'], [wrongKey, 'e2e-key-wrong-2'], ['not a key', `e2e-key-malformed-${tag}`]] as const) {
        const refused = await send(key, id);
        assert.deepEqual([refused.status, refused.body.error.code], [401, 'invalid_api_key'], id);
      }

      // In the key's tenant: one accepted (three requests, one interval) and one rate-limited (two refusals).
      const acme = await token({ tenant: 'acme', scope: 'activity:read' });
      const list = async (tenantToken: string, query: string) => (await call(auditApi.url, 'GET', `/api/v1/activity?${query}`, { token: tenantToken })).body.data as Array<Record<string, any>>;
      const ofKey = await eventually('the accepted and rate-limited events', async () => {
        const found = await list(acme, `action=auth.api_key.*&object_id=${idOf(secretKey)}`);
        return found.length === 2 ? found : undefined;
      }, 15_000);
      const accepted = ofKey.find((e) => e.action === 'auth.api_key.accepted')!;
      assert.deepEqual([accepted.status, accepted.actor, accepted.object, accepted.request_id], ['success', { type: 'user', id: 'carol', display: null }, { type: 'api_key', id: idOf(secretKey) }, 'e2e-key-ok-0']);
      assert.deepEqual(accepted.metadata, { key_id: idOf(secretKey), method: 'GET', path: '/api/runs' });
      const limitedEvent = ofKey.find((e) => e.action === 'auth.api_key.rate_limited')!;
      assert.deepEqual([limitedEvent.status, limitedEvent.request_id, limitedEvent.actor.id], ['failure', 'e2e-key-limited', 'carol']);
      assert.deepEqual(
        { ...limitedEvent.metadata, retry_after_s: limitedEvent.metadata.retry_after_s >= 1 },
        { key_id: idOf(secretKey), limit_per_s: 0.01, burst: 3, retry_after_s: true, method: 'GET', path: '/api/runs', repeats: 0 },
      );

      // Refusals have no tenant of their own: they are under the system tenant, like the audit API's rejected tokens.
      const system_ = await token({ tenant: '_system', scope: 'activity:read' });
      const refusal = (requestId: string) => eventually(`the refusal of ${requestId}`, async () => (await list(system_, `action=auth.api_key.rejected&request_id=${requestId}`))[0], 15_000);
      assert.deepEqual((await refusal(`e2e-key-missing-${tag}`)).metadata, { reason: 'missing', method: 'GET', path: '/api/runs', repeats: 0 });
      assert.deepEqual((await refusal(`e2e-key-malformed-${tag}`)).metadata, { reason: 'malformed', method: 'GET', path: '/api/runs', repeats: 0 });
      const wrong = await refusal('e2e-key-wrong-1');
      assert.deepEqual([wrong.status, wrong.actor, wrong.metadata], ['failure', { type: 'api_key', id: idOf(wrongKey), display: null }, { reason: 'unknown', key_id: idOf(wrongKey), method: 'GET', path: '/api/runs', repeats: 0 }]);
      assert.deepEqual(await list(system_, 'request_id=e2e-key-wrong-2'), [], 'the same key refused again within the interval is counted, not recorded');

      // Neither key appears anywhere in the stored events, nor in the gateway's logs.
      for (const reader of [acme, system_]) {
        const exported = await fetch(`${auditApi.url}/api/v1/activity/export?format=jsonl`, { headers: { authorization: `Bearer ${reader}` } });
        const text = await exported.text();
        assert.equal(exported.status, 200);
        assert.ok(text.includes(idOf(secretKey)) || text.includes(idOf(wrongKey)), 'the export holds the events');
        for (const key of [secretKey, wrongKey]) assert.ok(!text.includes(key), `${key} in the stored events`);
      }
      const logs = JSON.stringify(limited.lines);
      for (const key of [secretKey, wrongKey]) assert.ok(!logs.includes(key), `${key} in the gateway's logs`);
      assert.ok(objects(limited).some((l) => l.message === 'api key refused' && l.reason === 'unknown' && l.key_id === idOf(wrongKey)));
    } finally {
      assert.deepEqual(await limited.stop(), { code: 0, signal: null }, limited.stderr());
    }
  });

  it('fails a run it cannot queue (worker unreachable) with 503 and records workflow.run.failed', async () => {
    const orphan = await system.spawnExample('runs', {
      PORT: '0',
      WORKER_URL: `http://127.0.0.1:${await freePort()}`,
      DATABASE_URL: system.runsDb.url,
      LOOKOUT_AUDIT_URL: auditApi.url,
      LOOKOUT_AUDIT_JWT_SECRET: JWT_SECRET,
    });
    try {
      // The worker is required: its absence shows on /health/dependencies as 503 degraded, while /health and /health/db stay 200.
      const deps = await call(orphan.url, 'GET', '/health/dependencies');
      assert.deepEqual([deps.status, deps.body.status, deps.body.dependencies.worker.status, deps.body.dependencies.database.status], [503, 'degraded', 'down', 'up'], JSON.stringify(deps.body));
      assert.equal((await call(orphan.url, 'GET', '/health')).status, 200);
      assert.equal((await call(orphan.url, 'GET', '/health/db')).status, 200);
      const res = await call(orphan.url, 'POST', '/workflows/index-rebuild/runs', { headers: { 'x-tenant-id': 'acme', 'x-user-id': 'alice', 'x-request-id': 'e2e-orphan' } });
      assert.equal(res.status, 503);
      assert.equal(res.body.error.code, 'worker_unavailable');
      const runId = /run ([0-9a-f-]{36})/.exec(res.body.error.message)![1]!;
      const stored = await call(orphan.url, 'GET', `/runs/${runId}`, { headers: { 'x-tenant-id': 'acme' } });
      assert.deepEqual([stored.body.data.status, stored.body.data.error_code], ['failed', 'enqueue_failed']);
      const reader = await token({ tenant: 'acme', scope: 'activity:read' });
      const failed = await eventually('the workflow.run.failed event', async () => {
        const page = await call(auditApi.url, 'GET', '/api/v1/activity?request_id=e2e-orphan&action=workflow.run.failed', { token: reader });
        return page.body.data[0] as Record<string, any> | undefined;
      }, 15_000);
      assert.deepEqual([failed.status, failed.metadata.error_code], ['failure', 'enqueue_failed']);
    } finally {
      assert.deepEqual(await orphan.stop(), { code: 0, signal: null });
    }
  });

  it('receives Alertmanager notifications on the alert webhook and logs one line per alert', async () => {
    const hook = await system.spawnExample('alert-webhook', { PORT: '0' });
    try {
      const notification = {
        version: '4',
        receiver: 'pagerduty-critical',
        status: 'firing',
        groupKey: '{}:{alertname="ServiceHighErrorRatio"}',
        alerts: [
          {
            status: 'firing',
            labels: { alertname: 'ServiceHighErrorRatio', severity: 'critical', service: 'runs' },
            annotations: { summary: 'runs: 100% of requests fail', runbook_url: 'docs/runbooks/ServiceHighErrorRatio.md', dashboard_url: 'http://localhost:3000/d/lookout-service' },
            startsAt: new Date().toISOString(),
            endsAt: '0001-01-01T00:00:00Z',
            fingerprint: 'abc123',
          },
        ],
      };
      const res = await call(hook.url, 'POST', '/alerts', { body: notification });
      assert.deepEqual([res.status, res.body], [200, { received: 1 }]);
      const line = await hook.waitForLine((l) => l.message === 'alert firing: ServiceHighErrorRatio');
      assert.deepEqual([line.level, line.service, line.severity, line.runbook_url], ['warn', 'runs', 'critical', 'docs/runbooks/ServiceHighErrorRatio.md']);
      const listed = await call(hook.url, 'GET', '/alerts');
      assert.equal(listed.body.data[0].labels.alertname, 'ServiceHighErrorRatio');
      const bad = await call(hook.url, 'POST', '/alerts', { body: { alerts: [] } });
      assert.deepEqual([bad.status, bad.body.error.field], [400, 'version']);
    } finally {
      await hook.stop();
    }
  });

  it('every service exits 0 on SIGTERM, the worker after finishing the runs it had queued', async () => {
    // 40 runs at once: the worker (4 at a time, 5–20 ms each) still holds most of them when SIGTERM comes.
    const started = await Promise.all(
      Array.from({ length: 40 }, () => call(gateway.url, 'POST', '/api/workflows/user-export/runs', { headers: { 'x-api-key': API_KEY } })),
    );
    assert.ok(started.every((r) => r.status === 201), JSON.stringify(started.map((r) => r.status)));
    assert.deepEqual(await worker.stop(), { code: 0, signal: null }, worker.stderr());
    const draining = objects(worker).find((l) => l.message === 'draining the queue')!;
    assert.ok((draining.depth as number) > 0, `the worker had runs queued at SIGTERM (${draining.depth})`);
    for (const run of started) {
      const stored = await call(runs.url, 'GET', `/runs/${run.body.data.id}`, { headers: { 'x-tenant-id': 'acme' } });
      assert.equal(stored.body.data.status, 'completed', `run ${run.body.data.id}`);
    }
    for (const app of [gateway, runs]) assert.deepEqual(await app.stop(), { code: 0, signal: null }, app.stderr());
  });
});
