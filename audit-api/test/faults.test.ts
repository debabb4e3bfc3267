// Faults against a real PostgreSQL server behind a loopback TCP proxy that the test closes and reopens:
// the database going away gives 503s and recovers without a restart; a database that is down at start
// is waited for, with health endpoints answering meanwhile.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'mocha';
import { call, createTestDatabase, eventually, IP_HMAC_KEY, JWT_SECRET, SERVER_URL, type TestDatabase, token } from '@lookout/testkit';
import { startTestService, type TestService } from './fixtures/service.js';
import { TcpProxy } from './fixtures/tcp-proxy.js';
import { loadConfig } from '../src/config.js';
import { startService } from '../src/service.js';
import { createLogger } from '@lookout/agent';
import { PassThrough } from 'node:stream';

const event = { action: 'auth.logout', status: 'success', actor: { type: 'user', id: 'f' }, metadata: {} };

describe('database faults (real PostgreSQL behind a proxy)', function () {
  let db: TestDatabase;
  let proxy: TcpProxy;
  let writer: string;

  before(async () => {
    db = await createTestDatabase();
    const target = new URL(SERVER_URL);
    proxy = new TcpProxy(target.hostname, Number(target.port || 5432));
    await proxy.start();
    writer = await token({ tenant: 'tenant-f', scope: 'activity:write activity:read' });
  });

  after(async () => {
    await proxy?.stop();
    await db?.drop();
  });

  function proxiedUrl(): string {
    const url = new URL(db.url);
    url.hostname = '127.0.0.1';
    url.port = String(proxy.port);
    return url.toString();
  }

  it('answers 503 database_unavailable while the database is down and recovers without a restart', async () => {
    const svc: TestService = await startTestService(proxiedUrl());
    try {
      assert.equal((await call(svc.url, 'POST', '/api/v1/activity', { token: writer, body: event })).status, 201);
      await proxy.stop();
      const down = await call(svc.url, 'POST', '/api/v1/activity', { token: writer, body: event });
      assert.equal(down.status, 503, JSON.stringify(down.body));
      assert.equal(down.body.error.code, 'database_unavailable');
      assert.equal(down.headers.get('retry-after'), '5');
      assert.equal((await call(svc.url, 'GET', '/api/v1/activity', { token: writer })).status, 503);
      assert.equal((await call(svc.url, 'GET', '/health')).status, 200, 'liveness does not depend on the database');
      assert.equal((await call(svc.url, 'GET', '/health/db')).status, 503);
      const deps = await call(svc.url, 'GET', '/health/dependencies');
      assert.equal(deps.status, 503);
      assert.equal(deps.body.dependencies.database.status, 'down');

      await proxy.start();
      await eventually('writes to recover', async () => (await call(svc.url, 'POST', '/api/v1/activity', { token: writer, body: event })).status === 201, 15_000);
      const list = await call(svc.url, 'GET', '/api/v1/activity', { token: writer });
      assert.equal(list.status, 200);
      assert.equal(list.body.data.length, 2, 'the write made while down was refused, not half-stored');
      await eventually('LISTEN to reconnect', async () => (await call(svc.url, 'GET', '/health/dependencies')).status === 200, 15_000);
    } finally {
      await svc.stop();
    }
  });

  it('starts while the database is down, answers health checks and 503, and becomes ready when it comes up', async () => {
    await proxy.stop();
    const logs = new PassThrough();
    const service = await startService(
      loadConfig({ DATABASE_URL: proxiedUrl(), PORT: '0', LOOKOUT_AUDIT_HOST: '127.0.0.1', LOOKOUT_AUDIT_JWT_SECRET: JWT_SECRET, LOOKOUT_AUDIT_IP_HMAC_KEY: IP_HMAC_KEY }),
      createLogger({ stream: logs }),
    );
    logs.resume();
    try {
      assert.equal((await call(service.url, 'GET', '/health')).status, 200);
      assert.equal((await call(service.url, 'GET', '/health/db')).status, 503);
      const refused = await call(service.url, 'POST', '/api/v1/activity', { token: writer, body: event });
      assert.equal(refused.status, 503);
      assert.equal(refused.body.error.code, 'database_unavailable');
      await proxy.start();
      await service.ready;
      assert.equal((await call(service.url, 'POST', '/api/v1/activity', { token: writer, body: event })).status, 201);
    } finally {
      await service.stop();
    }
  });
});
