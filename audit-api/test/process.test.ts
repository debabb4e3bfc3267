// The service as `npm start` runs it: compiled, with @lookout/agent preloaded, exporting to a real
// OTLP/gRPC receiver; migrations applied at start; SIGTERM ends it cleanly. And the embedded PGlite mode.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'mocha';
import { call, createTestDatabase, IP_HMAC_KEY, JWT_SECRET, OtlpReceiver, spawnNode, type TestDatabase, token } from '@lookout/testkit';

const AUDIT_DIR = fileURLToPath(new URL('../', import.meta.url));

/** The service as `npm start` runs it, once it has said it is ready. */
async function spawnService(env: Record<string, string | undefined>) {
  const app = await spawnNode(['--import', '@lookout/agent/register', 'dist/src/main.js'], {
    cwd: AUDIT_DIR,
    name: 'audit-api',
    port: (line) => (line.message === 'audit-api listening' && typeof line.port === 'number' ? line.port : undefined),
    env: {
      PORT: '0',
      LOOKOUT_AUDIT_HOST: '127.0.0.1',
      LOOKOUT_AUDIT_JWT_SECRET: JWT_SECRET,
      LOOKOUT_AUDIT_IP_HMAC_KEY: IP_HMAC_KEY,
      OTEL_SERVICE_NAME: 'audit-api',
      ...env,
    },
  });
  await app.waitForLine((l) => l.message === 'audit-api ready', 20_000);
  return app;
}

describe('the audit-api process (npm start: compiled, agent preloaded)', function () {
  let db: TestDatabase;
  let receiver: OtlpReceiver;

  before(async () => {
    db = await createTestDatabase();
    receiver = new OtlpReceiver();
    await receiver.start();
  });

  after(async () => {
    await receiver?.stop();
    await db?.drop();
  });

  it('applies migrations at start, is traced, measured and logged by the agent, and exits 0 on SIGTERM', async () => {
    const svc = await spawnService({ DATABASE_URL: db.url, OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint });
    try {
      await svc.waitForLine((l) => l.message === 'migrations applied');
      const writer = await token({ tenant: 'tenant-p', scope: 'activity:write' });
      const res = await call(svc.url, 'POST', '/api/v1/activity', {
        token: writer,
        body: { action: 'auth.logout', status: 'success', actor: { type: 'user', id: 'p' }, metadata: {} },
        headers: { 'x-request-id': 'proc-req-1' },
      });
      assert.equal(res.status, 201, JSON.stringify(res.body));

      const span = await receiver.waitFor('server span', () => receiver.spans.find((s) => s.attributes['http.route'] === '/api/v1/activity' && s.attributes['http.request.method'] === 'POST'));
      assert.equal(span.attributes['http.response.status_code'], 201);
      assert.equal(span.resource['service.name'], 'audit-api');
      // The insert is a child of the request, through knex/pg instrumentation.
      await receiver.waitFor('db span', () => receiver.spans.find((s) => s.traceId === span.traceId && s.attributes['db.system.name'] === 'postgresql'));

      const line = await svc.waitForLine((l) => l.activity_event_id === res.body.data.id);
      assert.equal(line.trace_id, span.traceId);
      assert.equal(line.request_id, 'proc-req-1');

      const written = await receiver.waitFor('events written metric', () => receiver.metric('lookout.audit.events.written'));
      assert.equal(written.points[0]!.attributes.action, 'auth.logout');
      await receiver.waitFor('write duration metric', () => receiver.metric('lookout.audit.write.duration'));

      // Its own service instruments, as the example services export theirs: knex's pool and its queues.
      const pools = await receiver.waitFor('audit-db pool gauges', () => {
        const count = receiver.metric('db.client.connection.count');
        const points = count?.points.filter((p) => p.attributes['db.client.connection.pool.name'] === 'audit-db') ?? [];
        return points.length === 2 ? points : undefined;
      });
      assert.deepEqual(pools.map((p) => p.attributes['db.client.connection.state']).sort(), ['idle', 'used']);
      assert.ok(pools.reduce((sum, p) => sum + (p.value ?? 0), 0) >= 1, 'the write opened at least one connection');
      const max = await receiver.waitFor('audit-db pool max', () => receiver.metric('db.client.connection.max')?.points.find((p) => p.attributes['db.client.connection.pool.name'] === 'audit-db'));
      assert.equal(max.value, 10);
      await receiver.waitFor('audit-db pending requests', () => receiver.metric('db.client.connection.pending_requests')?.points.find((p) => p.attributes['db.client.connection.pool.name'] === 'audit-db'));
      const depth = await receiver.waitFor('queue depth gauges', () => {
        const metric = receiver.metric('lookout.audit.queue.depth');
        return metric && metric.points.length === 2 ? metric : undefined;
      });
      assert.equal(depth.type, 'gauge');
      assert.deepEqual(Object.fromEntries(depth.points.map((p) => [p.attributes.queue, p.value])), { self_audit: 0, stream: 0 });
      assert.equal(depth.resource['service.name'], 'audit-api');

      svc.child.kill('SIGTERM');
      const exit = await Promise.race([svc.exited, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('did not exit within 10 s of SIGTERM')), 10_000).unref())]);
      assert.deepEqual(exit, { code: 0, signal: null });
    } finally {
      svc.child.kill('SIGKILL');
    }
  });

  it('runs on embedded PGlite without DATABASE_URL, and says so', async () => {
    const svc = await spawnService({ DATABASE_URL: undefined, OTEL_SDK_DISABLED: 'true' });
    try {
      await svc.waitForLine((l) => String(l.message).includes('embedded PGlite'));
      const writer = await token({ tenant: 'tenant-g', scope: 'activity:write activity:read' });
      const res = await call(svc.url, 'POST', '/api/v1/activity/batch', {
        token: writer,
        body: { events: [{ action: 'auth.logout', status: 'success', actor: { type: 'user', id: 'g' }, metadata: {} }] },
      });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      const list = await call(svc.url, 'GET', '/api/v1/activity', { token: writer });
      assert.equal(list.status, 200);
      assert.deepEqual(list.body.data.map((e: { id: string }) => e.id), [res.body.data[0].id]);
      // No LISTEN connection by design: shown, not required, and not a degradation.
      const deps = await call(svc.url, 'GET', '/health/dependencies');
      assert.equal(deps.status, 200, JSON.stringify(deps.body));
      assert.deepEqual(deps.body.dependencies.notifications, { mode: 'local_only', status: 'up', required: false, latency_ms: deps.body.dependencies.notifications.latency_ms });
      assert.equal(deps.body.dependencies.database.status, 'up');
      const live = await call(svc.url, 'GET', '/health');
      assert.equal(live.body.version, JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version, 'the version of the package.json above the entry script');
    } finally {
      svc.child.kill('SIGKILL');
    }
  });
});
