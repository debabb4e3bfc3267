// The audit API over HTTP against a real PostgreSQL server: writes, idempotency, filters, pages, tenant
// isolation, scopes, bad input, export.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'mocha';
import { call, createTestDatabase, eventually, freePort, IP_HMAC_KEY, type TestDatabase, token } from '@lookout/testkit';
import pg from 'pg';
import { hashIp } from '../src/domain/ip.js';
import { startTestService, type TestService } from './fixtures/service.js';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT = '00f067aa0ba902b7';

function event(overrides: Record<string, unknown> = {}) {
  return {
    action: 'auth.login.success',
    status: 'success',
    actor: { type: 'user', id: 'u-1', display: 'Ada' },
    object: { type: 'session', id: 's-1' },
    metadata: { method: 'password', mfa: true },
    ...overrides,
  };
}

describe('audit API over HTTP (real PostgreSQL)', function () {
  let db: TestDatabase;
  let svc: TestService;
  let writerA: string;
  let readerA: string;
  let readerB: string;
  let writerB: string;

  before(async () => {
    db = await createTestDatabase();
    svc = await startTestService(db.url);
    writerA = await token({ tenant: 'tenant-a', scope: 'activity:write' });
    readerA = await token({ tenant: 'tenant-a', scope: 'activity:read' });
    writerB = await token({ tenant: 'tenant-b', scope: 'activity:write' });
    readerB = await token({ tenant: 'tenant-b', scope: 'activity:read' });
  });

  after(async () => {
    await svc?.stop();
    await db?.drop();
  });

  describe('writing', () => {
    it('stores one event and answers 201 with it, tenant from the token, trace from traceparent, IP hashed', async () => {
      const res = await call(svc.url, 'POST', '/api/v1/activity', {
        token: writerA,
        body: event(),
        headers: { traceparent: `00-${TRACE}-${PARENT}-01`, 'x-request-id': 'req-123', 'user-agent': 'test-agent/1.0' },
      });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      const stored = res.body.data;
      assert.equal(stored.tenant_id, 'tenant-a');
      assert.equal(stored.action, 'auth.login.success');
      assert.equal(stored.trace_id, TRACE);
      assert.equal(stored.span_id, PARENT);
      assert.equal(stored.user_agent, 'test-agent/1.0');
      assert.match(stored.id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      assert.equal(stored.ip_hash, hashIp(IP_HMAC_KEY, '127.0.0.1'));
      assert.ok(!JSON.stringify(stored).includes('127.0.0.1'), 'the plain IP is stored nowhere');
      const { rows } = await svc.knex.raw('select tenant_id, ip_hash from activity_events where id = ?', [stored.id]);
      assert.deepEqual(rows, [{ tenant_id: 'tenant-a', ip_hash: stored.ip_hash }]);
    });

    it('stores a batch in one transaction and returns the events in order', async () => {
      const events = Array.from({ length: 25 }, (_, i) => event({ object: { type: 'doc', id: `batch-${i}` } }));
      const res = await call(svc.url, 'POST', '/api/v1/activity/batch', { token: writerA, body: { events } });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      assert.deepEqual(
        res.body.data.map((e: any) => e.object.id),
        events.map((e) => e.object.id),
      );
    });

    it('answers Prefer: return=minimal with 201 and no body, stores the batch, and does the same for a retry', async () => {
      const events = Array.from({ length: 3 }, (_, i) => event({ id: `01890a5d-ac96-774b-bcce-b302099a81${10 + i}`, object: { type: 'doc', id: `minimal-${i}` } }));
      for (const attempt of ['first', 'retry']) {
        const res = await call(svc.url, 'POST', '/api/v1/activity/batch', { token: writerA, body: { events }, headers: { prefer: 'respond-async, return=minimal' } });
        assert.equal(res.status, 201, `${attempt}: ${JSON.stringify(res.body)}`);
        assert.equal(res.body, '', attempt);
        assert.equal(res.headers.get('content-length'), '0');
        assert.equal(res.headers.get('content-type'), null);
        assert.equal(res.headers.get('preference-applied'), 'return=minimal');
        assert.match(res.headers.get('vary') ?? '', /\bPrefer\b/);
      }
      const { rows } = await svc.knex.raw(`select object_id from activity_events where tenant_id = 'tenant-a' and object_id like 'minimal-%' order by object_id`);
      assert.deepEqual(rows.map((r: { object_id: string }) => r.object_id), ['minimal-0', 'minimal-1', 'minimal-2']);
      const single = await call(svc.url, 'POST', '/api/v1/activity', { token: writerA, body: event(), headers: { prefer: 'return="minimal"' } });
      assert.equal(single.status, 201);
      assert.equal(single.body, '');
      const full = await call(svc.url, 'POST', '/api/v1/activity', { token: writerA, body: event(), headers: { prefer: 'return=representation' } });
      assert.equal(full.status, 201);
      assert.equal(full.body.data.action, 'auth.login.success');
      assert.equal(full.headers.get('preference-applied'), null);
    });

    it('returns the stored event for a retried id and never stores a duplicate, even with occurred_at defaulted again', async () => {
      const id = '01890a5d-ac96-774b-bcce-b302099a8057';
      const first = await call(svc.url, 'POST', '/api/v1/activity', { token: writerA, body: event({ id }) });
      assert.equal(first.status, 201);
      await new Promise((resolve) => setTimeout(resolve, 5));
      const retry = await call(svc.url, 'POST', '/api/v1/activity/batch', { token: writerA, body: { events: [event({ id }), event({ id: '01890a5d-ac96-774b-bcce-b302099a8058' })] } });
      assert.equal(retry.status, 201);
      assert.deepEqual(retry.body.data[0], first.body.data);
      const { rows } = await svc.knex.raw('select count(*)::int as n from activity_events where id = ?', [id]);
      assert.equal(rows[0].n, 1);
    });

    it('keeps the same id of two tenants apart', async () => {
      const id = '01890a5d-ac96-774b-bcce-b302099a8059';
      const a = await call(svc.url, 'POST', '/api/v1/activity', { token: writerA, body: event({ id }) });
      const b = await call(svc.url, 'POST', '/api/v1/activity', { token: writerB, body: event({ id, actor: { type: 'user', id: 'b-user' } }) });
      assert.equal(a.status, 201);
      assert.equal(b.status, 201);
      assert.equal(b.body.data.tenant_id, 'tenant-b');
      assert.equal(b.body.data.actor.id, 'b-user');
    });

    it('scrubs secrets from metadata before storing', async () => {
      const jwt = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJlc2lnbmF0dXJl';
      const res = await call(svc.url, 'POST', '/api/v1/activity', {
        token: writerA,
        body: event({ action: 'workflow.run.failed', status: 'failure', metadata: { workflow_id: 'w1', run_id: 'r1', error_code: `bad token ${jwt}\r\nInjected: yes` } }),
      });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      const stored = JSON.stringify(res.body.data.metadata);
      assert.ok(!stored.includes(jwt), stored);
      assert.ok(!/\\r|\\n/.test(stored), stored);
    });

    it('records the write in a structured log line with activity_event_id', async () => {
      const res = await call(svc.url, 'POST', '/api/v1/activity', { token: writerA, body: event() });
      const line = await eventually('the log line', () => svc.logLines.find((l) => l.activity_event_id === res.body.data.id), 5000);
      assert.equal(line.message, 'activity recorded');
    });
  });

  describe('bad input: 4xx with a code and the offending field, nothing stored', () => {
    const cases: [string, () => Promise<{ status: number; body: any }>, number, string, string | undefined][] = [
      ['invalid JSON', () => call(svc.url, 'POST', '/api/v1/activity', { token: writerA, raw: '{"action":', headers: { 'content-type': 'application/json' } }), 400, 'invalid_json', 'body'],
      ['not JSON at all', () => call(svc.url, 'POST', '/api/v1/activity', { token: writerA, raw: 'action=x', headers: { 'content-type': 'text/plain' } }), 415, 'unsupported_media_type', 'content-type'],
      ['an unknown action', () => call(svc.url, 'POST', '/api/v1/activity', { token: writerA, body: event({ action: 'auth.login.maybe' }) }), 400, 'unknown_action', 'action'],
      ['metadata that does not fit the action', () => call(svc.url, 'POST', '/api/v1/activity', { token: writerA, body: event({ action: 'auth.login.failure', status: 'failure', metadata: {} }) }), 400, 'invalid_metadata', 'metadata.reason'],
      ['a client-supplied tenant', () => call(svc.url, 'POST', '/api/v1/activity', { token: writerA, body: event({ tenant_id: 'tenant-b' }) }), 400, 'unknown_field', 'tenant_id'],
      ['a client-supplied IP', () => call(svc.url, 'POST', '/api/v1/activity', { token: writerA, body: event({ ip: '10.0.0.1' }) }), 400, 'unknown_field', 'ip'],
      ['a bad status', () => call(svc.url, 'POST', '/api/v1/activity', { token: writerA, body: event({ status: 'ok' }) }), 400, 'invalid_field', 'status'],
      ['an actor id that is too long', () => call(svc.url, 'POST', '/api/v1/activity', { token: writerA, body: event({ actor: { type: 'user', id: 'x'.repeat(300) } }) }), 400, 'field_too_long', 'actor.id'],
      ['metadata over 8 KiB', () => call(svc.url, 'POST', '/api/v1/activity', { token: writerA, body: event({ action: 'activity.exported', metadata: { format: 'csv', filters: { q: 'x'.repeat(9000) } } }) }), 413, 'metadata_too_large', 'metadata'],
      ['a batch over 1000 events', () => call(svc.url, 'POST', '/api/v1/activity/batch', { token: writerA, body: { events: Array.from({ length: 1001 }, () => event()) } }), 413, 'batch_too_large', 'events'],
      ['a bad event inside a batch', () => call(svc.url, 'POST', '/api/v1/activity/batch', { token: writerA, body: { events: [event(), event(), event({ status: 'nope' })] } }), 400, 'invalid_field', 'events[2].status'],
      ['a body over the size limit', () => call(svc.url, 'POST', '/api/v1/activity', { token: writerA, body: event({ metadata: { method: 'x'.repeat(70_000) } }) }), 413, 'payload_too_large', 'body'],
      ['a method the path does not take', () => call(svc.url, 'DELETE', '/api/v1/activity', { token: writerA }), 405, 'method_not_allowed', undefined],
      ['a path no route answers', () => call(svc.url, 'GET', '/api/v1/nowhere', { token: writerA }), 404, 'not_found', undefined],
      ['an occurred_at older than retention', () => call(svc.url, 'POST', '/api/v1/activity', { token: writerA, body: event({ occurred_at: '2001-01-01T00:00:00Z' }) }), 400, 'invalid_field', 'occurred_at'],
    ];
    for (const [name, send, status, code, field] of cases) {
      it(`rejects ${name} with ${status} ${code}${field ? ` naming ${field}` : ''}`, async () => {
        const before = await countAll(svc);
        const res = await send();
        assert.equal(res.status, status, JSON.stringify(res.body));
        assert.equal(res.body.error.code, code, JSON.stringify(res.body));
        assert.equal(res.body.error.field, field, JSON.stringify(res.body));
        assert.equal(typeof res.body.error.message, 'string');
        assert.ok(!JSON.stringify(res.body).includes('    at '), 'no stack trace');
        assert.equal(await countAll(svc), before, 'nothing stored');
      });
    }
  });

  describe('auth and scopes', () => {
    it('refuses a missing token with 401 and records auth.token.rejected under the system tenant', async () => {
      const res = await call(svc.url, 'GET', '/api/v1/activity');
      assert.equal(res.status, 401);
      assert.equal(res.body.error.code, 'invalid_token');
      const row = await eventually('the rejection recorded', async () => {
        const { rows } = await svc.knex.raw(`select * from activity_events where tenant_id = '_system' and action = 'auth.token.rejected' and metadata->>'reason' = 'missing'`);
        return rows[0];
      }, 5000);
      assert.equal(row.status, 'failure');
      assert.equal(row.ip_hash, hashIp(IP_HMAC_KEY, '127.0.0.1'));
      assert.equal(row.metadata.path, '/api/v1/activity');
    });

    it('refuses expired, wrongly signed and malformed tokens with 401, each recorded with its reason', async () => {
      const expired = await token({ tenant: 'tenant-a', expiresIn: Math.floor(Date.now() / 1000) - 60 });
      const forged = await token({ tenant: 'tenant-a', secret: new TextEncoder().encode('another-secret-another-secret-another') });
      for (const [bad, reason] of [
        [expired, 'expired'],
        [forged, 'bad_signature'],
        ['not.a.jwt', 'malformed'],
      ] as const) {
        const res = await call(svc.url, 'GET', '/api/v1/activity', { token: bad });
        assert.equal(res.status, 401, reason);
        await eventually(`the rejection ${reason} recorded`, async () => {
          const { rows } = await svc.knex.raw(`select 1 from activity_events where tenant_id = '_system' and metadata->>'reason' = ?`, [reason]);
          return rows[0];
        }, 5000);
      }
    });

    it('refuses a token without tenant_id with 401 missing_claim', async () => {
      const res = await call(svc.url, 'GET', '/api/v1/activity', { token: await token({ tenant: undefined }) });
      assert.equal(res.status, 401);
    });

    it('answers 403 insufficient_scope to a writer reading and a reader writing', async () => {
      const read = await call(svc.url, 'GET', '/api/v1/activity', { token: writerA });
      assert.equal(read.status, 403);
      assert.equal(read.body.error.code, 'insufficient_scope');
      const write = await call(svc.url, 'POST', '/api/v1/activity', { token: readerA, body: event() });
      assert.equal(write.status, 403);
      const exp = await call(svc.url, 'GET', '/api/v1/activity/export', { token: writerA });
      assert.equal(exp.status, 403);
    });
  });

  describe('listing', () => {
    const base = Date.UTC(2026, 9, 1); // events spread over October 2026
    before(async () => {
      const events = Array.from({ length: 60 }, (_, i) =>
        event({
          occurred_at: new Date(base + i * 3600_000).toISOString(),
          action: i % 3 === 0 ? 'auth.login.failure' : i % 3 === 1 ? 'storage.file.uploaded' : 'auth.logout',
          status: i % 3 === 0 ? 'failure' : 'success',
          actor: { type: 'user', id: `actor-${i % 4}` },
          object: { type: i % 2 ? 'file' : 'session', id: `obj-${i % 5}` },
          request_id: `list-req-${i % 6}`,
          trace_id: i === 7 ? TRACE : undefined,
          metadata: i % 3 === 0 ? { reason: 'bad_credentials' } : i % 3 === 1 ? { file_id: `f${i}`, size_bytes: i } : {},
        }),
      );
      const res = await call(svc.url, 'POST', '/api/v1/activity/batch', { token: writerB, body: { events } });
      assert.equal(res.status, 201, JSON.stringify(res.body));
    });

    async function listAll(query: string, tok = readerB): Promise<any[]> {
      const out: any[] = [];
      let cursor: string | null = null;
      do {
        const res: any = await call(svc.url, 'GET', `/api/v1/activity?${query}&limit=7${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, { token: tok });
        assert.equal(res.status, 200, JSON.stringify(res.body));
        out.push(...res.body.data);
        cursor = res.body.next_cursor;
      } while (cursor);
      return out;
    }

    const window = `from=2026-10-01T00:00:00Z&to=2026-11-01T00:00:00Z`;
    const filters: [string, (e: any, i: number) => boolean][] = [
      ['', () => true],
      ['action=auth.login.failure', (_e, i) => i % 3 === 0],
      ['action=auth.*', (_e, i) => i % 3 !== 1],
      ['actor_id=actor-2', (_e, i) => i % 4 === 2],
      ['object_type=file', (_e, i) => i % 2 === 1],
      ['object_type=session&object_id=obj-0', (_e, i) => i % 2 === 0 && i % 5 === 0],
      ['request_id=list-req-5', (_e, i) => i % 6 === 5],
      [`trace_id=${TRACE}`, (_e, i) => i === 7],
      ['status=failure', (_e, i) => i % 3 === 0],
      ['from=2026-10-02T00:00:00Z', (_e, i) => i >= 24],
      ['to=2026-10-01T10:00:00Z', (_e, i) => i < 10],
    ];
    for (const [query, expected] of filters) {
      it(`filters ${query || 'by the time window only'}, newest first, across pages`, async () => {
        // The filter's own from/to replaces the window's bound of the same name.
        const params = new URLSearchParams(window);
        for (const [key, value] of new URLSearchParams(query)) params.set(key, value);
        const got = await listAll(params.toString());
        const want = Array.from({ length: 60 }, (_, i) => i).filter((i) => expected(null, i)).reverse();
        assert.deepEqual(
          got.map((e) => (Date.parse(e.occurred_at) - base) / 3600_000),
          want,
        );
      });
    }

    it('pages with no gaps or repeats while events are being inserted', async () => {
      const seen: string[] = [];
      let cursor: string | null = null;
      let inserts = 0;
      do {
        // Newer events and events inside the window keep arriving between pages.
        await call(svc.url, 'POST', '/api/v1/activity', { token: writerB, body: event({ action: 'auth.logout', metadata: {} }) });
        inserts++;
        const res: any = await call(svc.url, 'GET', `/api/v1/activity?${window}&limit=9${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, { token: readerB });
        seen.push(...res.body.data.map((e: any) => e.id));
        cursor = res.body.next_cursor;
      } while (cursor);
      assert.ok(inserts > 5);
      assert.equal(new Set(seen).size, seen.length, 'no repeats');
      assert.equal(seen.length, 60, 'no gaps');
    });

    it('rejects bad filters with 400 naming the parameter', async () => {
      for (const [query, code, field] of [
        ['from=yesterday', 'invalid_filter', 'from'],
        ['from=2026-10-02T00:00:00Z&to=2026-10-01T00:00:00Z', 'invalid_filter', 'from'],
        ['action=nope.*', 'invalid_filter', 'action'],
        ['action=auth.login.perhaps', 'unknown_action', 'action'],
        ['status=maybe', 'invalid_filter', 'status'],
        ['limit=501', 'invalid_filter', 'limit'],
        ['limit=0', 'invalid_filter', 'limit'],
        ['trace_id=xyz', 'invalid_filter', 'trace_id'],
        ['colour=red', 'unknown_filter', 'colour'],
      ]) {
        const res = await call(svc.url, 'GET', `/api/v1/activity?${query}`, { token: readerB });
        assert.equal(res.status, 400, query);
        assert.equal(res.body.error.code, code, query);
        assert.equal(res.body.error.field, field, query);
      }
    });

    it('rejects a forged cursor, another tenant’s cursor and a cursor reused with other filters with 400 invalid_cursor', async () => {
      const page = await call(svc.url, 'GET', `/api/v1/activity?${window}&limit=5`, { token: readerB });
      const cursor: string = page.body.next_cursor;
      assert.ok(cursor);
      const [body, sig] = cursor.split('.');
      const decoded = JSON.parse(Buffer.from(body!, 'base64url').toString());
      decoded.t = '2099-01-01T00:00:00.000000Z';
      const edited = `${Buffer.from(JSON.stringify(decoded)).toString('base64url')}.${sig}`;
      for (const [tok, query] of [
        [readerB, `${window}&limit=5&cursor=${encodeURIComponent(edited)}`],
        [readerB, `${window}&limit=5&cursor=garbage`],
        [readerA, `${window}&limit=5&cursor=${encodeURIComponent(cursor)}`],
        [readerB, `${window}&status=failure&limit=5&cursor=${encodeURIComponent(cursor)}`],
      ]) {
        const res = await call(svc.url, 'GET', `/api/v1/activity?${query}`, { token: tok });
        assert.equal(res.status, 400, query);
        assert.equal(res.body.error.code, 'invalid_cursor');
        assert.equal(res.body.error.field, 'cursor');
      }
    });

    it('never shows one tenant’s events to another', async () => {
      const a = await listAll(window, readerA);
      assert.equal(a.length, 0);
      const all = await call(svc.url, 'GET', '/api/v1/activity?limit=500', { token: readerA });
      assert.ok(all.body.data.length > 0);
      assert.ok(all.body.data.every((e: any) => e.tenant_id === 'tenant-a'));
    });
  });

  describe('export', () => {
    it('streams the filtered window as JSON Lines and records the export itself', async () => {
      const res = await call(svc.url, 'GET', '/api/v1/activity/export?format=jsonl&from=2026-10-01T00:00:00Z&to=2026-11-01T00:00:00Z&status=failure', { token: readerB });
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-disposition') ?? '', /attachment; filename="activity-tenant-b-.*\.jsonl"/);
      const lines = (res.body as string).trim().split('\n').map((l) => JSON.parse(l));
      assert.equal(lines.length, 20);
      assert.ok(lines.every((e) => e.tenant_id === 'tenant-b' && e.status === 'failure'));
      const audit = await call(svc.url, 'GET', '/api/v1/activity?action=activity.exported', { token: readerB });
      assert.equal(audit.body.data[0].metadata.format, 'jsonl');
      assert.equal(audit.body.data[0].metadata.filters.status, 'failure');
    });

    it('exports CSV with a header, quoting, and formula cells defused', async () => {
      await call(svc.url, 'POST', '/api/v1/activity', { token: writerB, body: event({ actor: { type: 'user', id: '=HYPERLINK("x")', display: 'Smith, "Jo"' }, occurred_at: '2026-09-15T00:00:00Z' }) });
      const res = await call(svc.url, 'GET', '/api/v1/activity/export?format=csv&from=2026-09-01T00:00:00Z&to=2026-10-01T00:00:00Z', { token: readerB });
      assert.equal(res.status, 200);
      const lines = (res.body as string).trim().split('\r\n');
      assert.equal(lines[0], 'id,occurred_at,received_at,action,status,actor_type,actor_id,actor_display,object_type,object_id,request_id,trace_id,span_id,ip_hash,user_agent,metadata');
      assert.equal(lines.length, 2);
      assert.ok(lines[1]!.includes(`"'=HYPERLINK(""x"")"`), lines[1]);
      assert.ok(lines[1]!.includes('"Smith, ""Jo"""'), lines[1]);
    });

    it('exports only the caller’s tenant', async () => {
      const res = await call(svc.url, 'GET', '/api/v1/activity/export?format=jsonl&from=2026-10-01T00:00:00Z&to=2026-11-01T00:00:00Z', { token: readerA });
      assert.equal(res.status, 200);
      assert.equal((res.body as string).trim(), '');
    });
  });

  describe('health and limits', () => {
    it('answers /health, /health/db and /health/dependencies (database and LISTEN both required and up)', async () => {
      const live = await call(svc.url, 'GET', '/health');
      assert.equal(live.status, 200);
      assert.equal(live.body.status, 'ok');
      assert.equal(typeof live.body.version, 'string');
      assert.equal(typeof live.body.uptime_seconds, 'number');
      assert.ok(!Number.isNaN(Date.parse(live.body.timestamp)), live.body.timestamp);
      const db = await call(svc.url, 'GET', '/health/db');
      assert.equal(db.status, 200, JSON.stringify(db.body));
      assert.equal(db.body.status, 'ok');
      assert.equal(db.body.database.status, 'up');
      assert.equal(typeof db.body.database.latency_ms, 'number');
      const deps = await call(svc.url, 'GET', '/health/dependencies');
      assert.equal(deps.status, 200, JSON.stringify(deps.body));
      assert.equal(deps.body.status, 'ok');
      assert.deepEqual(
        Object.fromEntries(Object.entries(deps.body.dependencies as Record<string, { status: string; required: boolean }>).map(([name, d]) => [name, [d.status, d.required]])),
        { database: ['up', true], notifications: ['up', true] },
      );
      assert.equal(typeof deps.body.dependencies.database.latency_ms, 'number');
      assert.equal((await call(svc.url, 'GET', '/health/ready')).status, 404, 'the old readiness path is gone: /health/db replaces it');
    });

    it('answers /health/db and /health/dependencies 503 with the database down when it refuses connections, /health 200', async () => {
      // Nothing listens on the port: the service starts (it retries its migrations) and reports the database down.
      const closed = new URL(db.url);
      closed.hostname = '127.0.0.1';
      closed.port = String(await freePort());
      const down = await startTestService(closed.toString(), {}, { waitReady: false });
      try {
        assert.equal((await call(down.url, 'GET', '/health')).status, 200);
        const dbHealth = await call(down.url, 'GET', '/health/db');
        assert.equal(dbHealth.status, 503, JSON.stringify(dbHealth.body));
        assert.equal(dbHealth.body.status, 'unavailable');
        assert.equal(dbHealth.body.database.status, 'down');
        assert.match(dbHealth.body.database.error, /ECONNREFUSED|connect/i);
        const deps = await call(down.url, 'GET', '/health/dependencies');
        assert.equal(deps.status, 503, JSON.stringify(deps.body));
        assert.equal(deps.body.status, 'degraded');
        assert.equal(deps.body.dependencies.database.status, 'down');
        assert.equal(deps.body.dependencies.notifications.status, 'down');
      } finally {
        await down.stop();
      }
    });

    it('answers /health/db 503 while the database answers but its migrations cannot run (a newer schema than this build knows)', async () => {
      // An older image on a database a newer release migrated: knex refuses to migrate ("migration directory is
      // corrupt"), every API call answers 503, and so must the readiness probe.
      const newer = await createTestDatabase();
      const client = new pg.Client({ connectionString: newer.url });
      await client.connect();
      await client.query('create table audit_knex_migrations (id serial primary key, name varchar(255), batch integer, migration_time timestamptz)');
      await client.query("insert into audit_knex_migrations (name, batch, migration_time) values ('999_from_a_newer_release.ts', 1, now())");
      await client.end();
      const stale = await startTestService(newer.url, {}, { waitReady: false });
      try {
        const dbHealth = await eventually('/health/db answering', async () => {
          const reply = await call(stale.url, 'GET', '/health/db');
          return reply.body?.database?.error ? reply : undefined;
        });
        assert.equal(dbHealth.status, 503, JSON.stringify(dbHealth.body));
        assert.match(dbHealth.body.database.error, /migrations and partitions are not in place/);
        assert.equal((await call(stale.url, 'GET', '/health')).status, 200, 'the process itself answers');
      } finally {
        await stale.stop();
        await newer.drop();
      }
    });

    it('limits each tenant’s request rate with 429 and Retry-After, leaving other tenants alone', async () => {
      const limited = await startTestService(db.url, { LOOKOUT_AUDIT_RATE_LIMIT_RPS: '1', LOOKOUT_AUDIT_RATE_LIMIT_BURST: '3' });
      try {
        const codes = [];
        for (let i = 0; i < 5; i++) codes.push((await call(limited.url, 'GET', '/api/v1/activity?limit=1', { token: readerA })).status);
        assert.deepEqual(codes.slice(0, 3), [200, 200, 200]);
        const refused = await call(limited.url, 'GET', '/api/v1/activity?limit=1', { token: readerA });
        assert.equal(refused.status, 429);
        assert.equal(refused.body.error.code, 'rate_limited');
        assert.ok(Number(refused.headers.get('retry-after')) >= 1);
        assert.equal((await call(limited.url, 'GET', '/api/v1/activity?limit=1', { token: readerB })).status, 200);
      } finally {
        await limited.stop();
      }
    });
  });
});

async function countAll(svc: TestService): Promise<number> {
  const { rows } = await svc.knex.raw(`select count(*)::int as n from activity_events where tenant_id <> '_system'`);
  return rows[0].n;
}
