// The shared health endpoints (createHealth) behind a real Koa server: /health, /health/db against a real
// PostgreSQL server and against a closed port, /health/dependencies with required and optional dependencies,
// timeouts, truncated errors, HEAD, and every other request passed on untouched.
import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import pg from 'pg';
import { call, freePort, SERVER_URL } from '@lookout/testkit';
import { createHealth, type HealthOptions } from '../src/health.js';

/** One round trip on a fresh connection, as a service's database check would make. */
const pgCheck = (connectionString: string) => async () => {
  const client = new pg.Client({ connectionString, connectionTimeoutMillis: 1500 });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('select 1');
  } finally {
    await client.end().catch(() => {});
  }
};

describe('health endpoints (createHealth)', function () {
  this.timeout(20_000);
  const servers: Server[] = [];
  let closedUrl: string;

  before(async () => {
    const url = new URL(SERVER_URL);
    url.port = String(await freePort());
    closedUrl = url.toString();
  });

  after(async () => {
    for (const server of servers) await new Promise((resolve) => server.close(resolve));
  });

  /** A Koa app with the health middleware first and a route of its own behind it. */
  async function serve(options: HealthOptions): Promise<string> {
    const app = new Koa();
    app.use(createHealth(options).middleware);
    app.use((ctx) => {
      ctx.body = { passed_on: `${ctx.method} ${ctx.path}` };
    });
    const server = app.listen(0, '127.0.0.1');
    servers.push(server);
    await new Promise((resolve) => server.once('listening', resolve));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  it('answers /health with status, version, an ISO timestamp and the uptime in seconds, uncached', async () => {
    const url = await serve({ version: '1.2.3' });
    const res = await call(url, 'GET', '/health');
    assert.equal(res.status, 200);
    assert.deepEqual(Object.keys(res.body).sort(), ['status', 'timestamp', 'uptime_seconds', 'version']);
    assert.equal(res.body.status, 'ok');
    assert.equal(res.body.version, '1.2.3');
    assert.equal(new Date(res.body.timestamp).toISOString(), res.body.timestamp);
    assert.ok(Number.isInteger(res.body.uptime_seconds) && res.body.uptime_seconds >= 0, String(res.body.uptime_seconds));
    assert.equal(res.headers.get('cache-control'), 'no-store');
  });

  it('reports the service.version of OTEL_RESOURCE_ATTRIBUTES when no version is given', async () => {
    const saved = process.env.OTEL_RESOURCE_ATTRIBUTES;
    process.env.OTEL_RESOURCE_ATTRIBUTES = 'service.version=9.8.7,deployment.environment.name=test';
    try {
      assert.equal(createHealth().liveness().version, '9.8.7');
    } finally {
      if (saved === undefined) delete process.env.OTEL_RESOURCE_ATTRIBUTES;
      else process.env.OTEL_RESOURCE_ATTRIBUTES = saved;
    }
  });

  it('answers /health/db 200 with the round-trip time when PostgreSQL answers', async () => {
    const url = await serve({ database: pgCheck(SERVER_URL) });
    const res = await call(url, 'GET', '/health/db');
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.status, 'ok');
    assert.equal(res.body.database.status, 'up');
    assert.equal(typeof res.body.database.latency_ms, 'number');
    assert.equal(res.body.database.error, undefined);
  });

  it('answers /health/db 503 unavailable when the database refuses, /health/dependencies 503 degraded, and /health still 200', async () => {
    const url = await serve({ database: pgCheck(closedUrl), dependencies: [{ name: 'cache', required: false, check: async () => {} }] });
    const db = await call(url, 'GET', '/health/db');
    assert.equal(db.status, 503, JSON.stringify(db.body));
    assert.equal(db.body.status, 'unavailable');
    assert.equal(db.body.database.status, 'down');
    assert.match(db.body.database.error, /ECONNREFUSED|connect/i);
    assert.ok(!db.body.database.error.includes('\n    at '), 'no stack trace');
    const deps = await call(url, 'GET', '/health/dependencies');
    assert.equal(deps.status, 503, JSON.stringify(deps.body));
    assert.equal(deps.body.status, 'degraded');
    assert.equal(deps.body.dependencies.database.status, 'down');
    assert.equal(deps.body.dependencies.database.required, true);
    assert.equal(deps.body.dependencies.cache.status, 'up');
    assert.equal((await call(url, 'GET', '/health')).status, 200, 'liveness does not depend on the database');
  });

  it('answers /health/db 200 with database "none" for a service without a database', async () => {
    const url = await serve({});
    const res = await call(url, 'GET', '/health/db');
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, { status: 'ok', database: 'none' });
    const deps = await call(url, 'GET', '/health/dependencies');
    assert.deepEqual({ status: deps.status, body: deps.body }, { status: 200, body: { status: 'ok', dependencies: {} } });
  });

  it('keeps 200 ok when only an optional dependency is down, and shows it down with its error', async () => {
    const url = await serve({
      database: pgCheck(SERVER_URL),
      dependencies: [{ name: 'audit', required: false, check: () => Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:1')) }],
    });
    const res = await call(url, 'GET', '/health/dependencies');
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.status, 'ok');
    assert.deepEqual(Object.keys(res.body.dependencies).sort(), ['audit', 'database']);
    assert.equal(res.body.dependencies.database.status, 'up');
    const audit = res.body.dependencies.audit;
    assert.deepEqual({ status: audit.status, required: audit.required, error: audit.error }, { status: 'down', required: false, error: 'connect ECONNREFUSED 127.0.0.1:1' });
    assert.equal(typeof audit.latency_ms, 'number');
  });

  it('counts a check that outlives its timeout as down, aborts it, and answers within the timeout', async () => {
    let aborted = false;
    const url = await serve({
      timeoutMs: 150,
      dependencies: [
        {
          name: 'worker',
          required: true,
          check: (signal) =>
            new Promise(() => {
              signal.addEventListener('abort', () => (aborted = true));
            }),
        },
      ],
    });
    const started = performance.now();
    const res = await call(url, 'GET', '/health/dependencies');
    const took = performance.now() - started;
    assert.equal(res.status, 503, JSON.stringify(res.body));
    assert.equal(res.body.dependencies.worker.status, 'down');
    assert.equal(res.body.dependencies.worker.error, 'no answer within 150 ms');
    assert.ok(res.body.dependencies.worker.latency_ms >= 145, String(res.body.dependencies.worker.latency_ms));
    assert.ok(took < 1500, `answered in ${took} ms`);
    assert.ok(aborted, 'the check was told to give up');
  });

  it('shows what a check resolves to next to its status, and truncates long error messages', async () => {
    const url = await serve({
      dependencies: [
        { name: 'notifications', required: false, check: async () => ({ mode: 'local_only' }) },
        { name: 'runs', required: true, check: () => Promise.reject(new Error('x'.repeat(5000))) },
      ],
    });
    const res = await call(url, 'GET', '/health/dependencies');
    assert.equal(res.status, 503);
    assert.equal(res.body.dependencies.notifications.mode, 'local_only');
    assert.equal(res.body.dependencies.notifications.status, 'up');
    assert.equal(res.body.dependencies.runs.error.length, 200);
  });

  it('answers HEAD like GET without a body', async () => {
    const url = await serve({ database: pgCheck(closedUrl) });
    const live = await fetch(`${url}/health`, { method: 'HEAD' });
    assert.equal(live.status, 200);
    assert.equal(await live.text(), '');
    assert.equal((await fetch(`${url}/health/db`, { method: 'HEAD' })).status, 503);
  });

  it('passes every other request on: other paths, and other methods on the health paths', async () => {
    const url = await serve({ database: pgCheck(SERVER_URL) });
    assert.deepEqual((await call(url, 'GET', '/healthz')).body, { passed_on: 'GET /healthz' });
    assert.deepEqual((await call(url, 'GET', '/health/ready')).body, { passed_on: 'GET /health/ready' });
    assert.deepEqual((await call(url, 'POST', '/health')).body, { passed_on: 'POST /health' });
  });

  it('refuses two checks of the same name', () => {
    assert.throws(() => createHealth({ database: async () => {}, dependencies: [{ name: 'database', required: false, check: async () => {} }] }), /"database" is registered twice/);
  });
});
