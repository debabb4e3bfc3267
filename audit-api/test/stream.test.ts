// The SSE stream against a real PostgreSQL server: delivery, filters, heartbeats, resume with
// Last-Event-ID, tenant isolation, fan-out across two replicas through LISTEN/NOTIFY, slow consumers.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'mocha';
import { call, createTestDatabase, type TestDatabase, token } from '@lookout/testkit';
import { SseReader } from './fixtures/sse-reader.js';
import { startTestService, type TestService } from './fixtures/service.js';

const logout = (id: string) => ({ action: 'auth.logout', status: 'success', actor: { type: 'user', id }, metadata: {} });

describe('activity stream (SSE, real PostgreSQL)', function () {
  let db: TestDatabase;
  let svc: TestService;
  let replica: TestService;
  let writerA: string;
  let readerA: string;
  let readerB: string;
  const open: SseReader[] = [];

  before(async () => {
    db = await createTestDatabase();
    svc = await startTestService(db.url, { LOOKOUT_AUDIT_SSE_HEARTBEAT_MS: '200' });
    replica = await startTestService(db.url, { LOOKOUT_AUDIT_MIGRATE: 'false' });
    writerA = await token({ tenant: 'tenant-a', scope: 'activity:write' });
    readerA = await token({ tenant: 'tenant-a', scope: 'activity:read' });
    readerB = await token({ tenant: 'tenant-b', scope: 'activity:read' });
  });

  after(async () => {
    for (const reader of open) reader.close();
    await svc?.stop();
    await replica?.stop();
    await db?.drop();
  });

  async function subscribe(base: string, tok: string, query = '', headers: Record<string, string> = {}): Promise<SseReader> {
    const reader = await SseReader.open(`${base}/api/v1/activity/stream${query}`, { authorization: `Bearer ${tok}`, ...headers });
    open.push(reader);
    assert.equal(reader.status, 200);
    await reader.waitFor((r) => r.messages.length > 0); // the retry: preamble
    return reader;
  }

  it('delivers new events of the tenant, as written, with the stream position as SSE id', async () => {
    const reader = await subscribe(svc.url, readerA);
    const res = await call(svc.url, 'POST', '/api/v1/activity/batch', { token: writerA, body: { events: [logout('s1'), logout('s2')] } });
    assert.equal(res.status, 201);
    await reader.waitFor((r) => r.events.length >= 2);
    const got = reader.events.map((m) => JSON.parse(m.data!));
    assert.deepEqual(got.map((e) => e.actor.id), ['s1', 's2']);
    assert.deepEqual(got.map((e) => e.id), res.body.data.map((e: any) => e.id));
    assert.ok(reader.events.every((m) => m.event === 'activity' && /^\d+\.\d+(\.\d+)*$/.test(m.id!)));
  });

  it('applies the list filters to the stream', async () => {
    const reader = await subscribe(svc.url, readerA, '?action=auth.login.*&status=failure');
    await call(svc.url, 'POST', '/api/v1/activity/batch', {
      token: writerA,
      body: {
        events: [
          logout('no'),
          { action: 'auth.login.success', status: 'success', actor: { type: 'user', id: 'no-2' }, metadata: {} },
          { action: 'auth.login.failure', status: 'failure', actor: { type: 'user', id: 'yes' }, metadata: { reason: 'bad_credentials' } },
        ],
      },
    });
    await reader.waitFor((r) => r.events.length >= 1);
    // One more write to be sure nothing else was coming for this subscriber.
    await call(svc.url, 'POST', '/api/v1/activity', { token: writerA, body: { action: 'auth.login.failure', status: 'failure', actor: { type: 'user', id: 'yes-2' }, metadata: { reason: 'mfa_failed' } } });
    await reader.waitFor((r) => r.events.length >= 2);
    assert.deepEqual(reader.events.map((m) => JSON.parse(m.data!).actor.id), ['yes', 'yes-2']);
  });

  it('sends heartbeats while idle', async () => {
    const reader = await subscribe(svc.url, readerA);
    await reader.waitFor((r) => r.messages.filter((m) => m.comment === 'heartbeat').length >= 2, 5000);
  });

  it('never sends one tenant’s events to another', async () => {
    const other = await subscribe(svc.url, readerB);
    const mine = await subscribe(svc.url, readerA);
    await call(svc.url, 'POST', '/api/v1/activity', { token: writerA, body: logout('private') });
    await mine.waitFor((r) => r.events.some((m) => JSON.parse(m.data!).actor.id === 'private'));
    // The hub has delivered that transaction; tenant-b's subscriber got nothing from it.
    assert.equal(other.events.length, 0);
  });

  it('resumes with Last-Event-ID: missed events replayed from the table, then the live feed, no duplicates', async () => {
    const first = await subscribe(svc.url, readerA, '?actor_id=resume');
    const one = { ...logout('x'), actor: { type: 'user', id: 'resume' } };
    await call(svc.url, 'POST', '/api/v1/activity', { token: writerA, body: one });
    await first.waitFor((r) => r.events.length === 1);
    const lastId = first.events[0]!.id!;
    first.close();
    // Written while the client was away.
    const missed = await call(svc.url, 'POST', '/api/v1/activity/batch', { token: writerA, body: { events: [one, one, one] } });
    const resumed = await subscribe(svc.url, readerA, '?actor_id=resume', { 'last-event-id': lastId });
    await resumed.waitFor((r) => r.events.length >= 3);
    await call(svc.url, 'POST', '/api/v1/activity', { token: writerA, body: one });
    await resumed.waitFor((r) => r.events.length >= 4);
    const ids = resumed.events.map((m) => JSON.parse(m.data!).id);
    assert.deepEqual(ids.slice(0, 3), missed.body.data.map((e: any) => e.id));
    assert.equal(new Set(ids).size, ids.length, 'no duplicates');
  });

  it('rejects a Last-Event-ID it never sent with 400', async () => {
    const res = await call(svc.url, 'GET', '/api/v1/activity/stream', { token: readerA, headers: { 'last-event-id': 'abc' } });
    assert.equal(res.status, 400);
    assert.equal(res.body.error.field, 'last-event-id');
  });

  it('fans out across replicas: an event written on one reaches a subscriber on the other (LISTEN/NOTIFY)', async () => {
    const reader = await subscribe(replica.url, readerA, '?actor_id=cross');
    const res = await call(svc.url, 'POST', '/api/v1/activity', { token: writerA, body: { ...logout('x'), actor: { type: 'user', id: 'cross' } } });
    // Well inside the 1 s fallback poll: delivered on the notification.
    const start = Date.now();
    await reader.waitFor((r) => r.events.length === 1, 5000);
    assert.equal(JSON.parse(reader.events[0]!.data!).id, res.body.data.id);
    assert.ok(Date.now() - start < 5000);
  });

  it('disconnects a subscriber that stops reading once its bounded queue is full, instead of buffering without end', async () => {
    const small = await startTestService(db.url, { LOOKOUT_AUDIT_MIGRATE: 'false', LOOKOUT_AUDIT_SSE_MAX_QUEUED: '5' });
    try {
      const reader = await subscribe(small.url, readerA);
      reader.pauseReading();
      const big = { ...logout('slow'), metadata: {} };
      // Enough bytes to fill the socket buffers, then the 5-frame queue.
      for (let i = 0; i < 20; i++) {
        await call(svc.url, 'POST', '/api/v1/activity/batch', { token: writerA, body: { events: Array.from({ length: 500 }, () => big) } });
        if (reader.closed) break;
      }
      reader.resumeReading();
      await reader.waitFor((r) => r.closed, 10_000);
    } finally {
      await small.stop();
    }
  });
});
