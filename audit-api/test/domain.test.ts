// The domain layer as a specification: taxonomy, event parsing and its errors, scrubbing, ids, IP hashing.
import assert from 'node:assert/strict';
import { redactionPolicy } from '@lookout/agent';
import { ApiError } from '../src/domain/errors.js';
import { MAX_BATCH, MAX_METADATA_BYTES, parseBatch, parseEvent } from '../src/domain/event.js';
import { uuidv7 } from '../src/domain/ids.js';
import { hashIp } from '../src/domain/ip.js';
import { scrubMetadata, scrubText } from '../src/domain/scrub.js';
import { ACTION_PREFIXES, ACTIONS, closedFields, isKnownAction, validateMetadata } from '../src/domain/taxonomy.js';

const JWT = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJlc2lnbmF0dXJl';

function event(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { action: 'auth.login.success', status: 'success', actor: { type: 'user', id: 'u-1' }, metadata: { method: 'password', mfa: true }, ...overrides };
}

/** Asserts that `fn` throws an ApiError with this status, code and field. */
function rejects(fn: () => unknown, status: number, code: string, field: string | undefined): ApiError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ApiError, `expected an ApiError, got ${String(err)}`);
    assert.deepEqual({ status: err.status, code: err.code, field: err.field }, { status, code, field }, err.message);
    return err;
  }
  assert.fail(`expected ${status} ${code}`);
}

describe('domain', () => {
  describe('taxonomy', () => {
    const ISSUE_ACTIONS = [
      'auth.login.success',
      'auth.login.failure',
      'auth.logout',
      'auth.token.refreshed',
      'auth.token.rejected',
      'auth.password.changed',
      'auth.password.reset',
      'auth.email.verified',
      'auth.account.locked',
      'auth.account.unlocked',
      'auth.service_account.issued',
      'auth.service_account.revoked',
      'conversation.created',
      'conversation.cleared',
      'agent.run.started',
      'agent.run.ended',
      'workflow.run.started',
      'workflow.run.completed',
      'workflow.run.failed',
      'billing.subscription.changed',
      'storage.file.uploaded',
      'storage.file.deleted',
      'vector.sync.changed',
      'container.created',
      'container.destroyed',
      'container.bound',
      'activity.exported',
    ];

    it('registers exactly the 27 actions of the issue, each with a description and a closed metadata schema', () => {
      assert.equal(ISSUE_ACTIONS.length, 27);
      assert.deepEqual(Object.keys(ACTIONS).sort(), [...ISSUE_ACTIONS].sort());
      for (const action of ISSUE_ACTIONS) {
        assert.ok(isKnownAction(action), action);
        const spec = ACTIONS[action as keyof typeof ACTIONS];
        assert.ok(spec.description.length > 0, action);
        assert.equal(spec.metadata.type, 'object', action);
        assert.equal(spec.metadata.additionalProperties, false, action);
      }
    });

    it('knows no action by an inherited property name', () => {
      assert.equal(isKnownAction('constructor'), false);
      assert.equal(isKnownAction('__proto__'), false);
    });

    it('lists every dotted prefix, and no full action, in ACTION_PREFIXES', () => {
      for (const prefix of ['auth', 'auth.login', 'auth.service_account', 'agent.run', 'billing.subscription', 'activity']) assert.ok(ACTION_PREFIXES.has(prefix), prefix);
      assert.equal(ACTION_PREFIXES.has('auth.login.success'), false);
      assert.equal(ACTION_PREFIXES.has('auth.log'), false);
    });

    it('declares no metadata field the redaction policy would remove, unless its values are a closed set', () => {
      const policy = redactionPolicy();
      for (const [action, spec] of Object.entries(ACTIONS)) {
        for (const field of Object.keys(spec.metadata.properties as object)) {
          if (policy.isSensitiveKey(field)) assert.ok(closedFields(action).has(field), `${action}: ${field}`);
        }
      }
    });

    it('accepts valid metadata for several actions', () => {
      validateMetadata('auth.login.failure', { reason: 'bad_credentials', method: 'sso' });
      validateMetadata('auth.email.verified', {});
      validateMetadata('auth.account.locked', { reason: 'admin', until: '2026-11-22T10:00:00+01:00' });
      validateMetadata('auth.service_account.issued', { service_account_id: 'sa-1', scopes: ['activity:write'], expires_at: '2027-01-01T00:00:00Z' });
      validateMetadata('agent.run.ended', { agent_id: 'a', run_id: 'r', outcome: 'timeout', duration_ms: 12.5, input_tokens: 10, output_tokens: 0 });
      validateMetadata('billing.subscription.changed', { change: 'created', from_plan: null, to_plan: 'pro' });
      validateMetadata('activity.exported', { format: 'csv', filters: { action: 'auth.*' }, rows: 3 });
    });

    it('rejects an unknown action with 400 unknown_action naming action', () => {
      const err = rejects(() => validateMetadata('auth.login.maybe', {}), 400, 'unknown_action', 'action');
      assert.equal(err.message, 'unknown action "auth.login.maybe"; known actions are listed at GET /api/v1/actions');
    });

    it('rejects a missing required metadata field with 400 invalid_metadata naming it', () => {
      rejects(() => validateMetadata('auth.login.failure', {}), 400, 'invalid_metadata', 'metadata.reason');
    });

    it('rejects an additional metadata field with 400 invalid_metadata naming it', () => {
      rejects(() => validateMetadata('auth.logout', { reason: 'user', password: 'x' }), 400, 'invalid_metadata', 'metadata.password');
    });

    it('rejects a value outside an enum, a wrong type and a bad date-time with 400 invalid_metadata naming the field', () => {
      rejects(() => validateMetadata('auth.login.success', { method: 'telepathy' }), 400, 'invalid_metadata', 'metadata.method');
      rejects(() => validateMetadata('auth.login.success', { mfa: 'yes' }), 400, 'invalid_metadata', 'metadata.mfa');
      rejects(() => validateMetadata('storage.file.uploaded', { file_id: 'f', size_bytes: -1 }), 400, 'invalid_metadata', 'metadata.size_bytes');
      rejects(() => validateMetadata('auth.account.locked', { reason: 'admin', until: '2026-11-22 10:00' }), 400, 'invalid_metadata', 'metadata.until');
      rejects(() => validateMetadata('auth.service_account.issued', { service_account_id: 's', scopes: ['a', 5] }), 400, 'invalid_metadata', 'metadata.scopes[1]');
    });

    it('rejects a too-long metadata string with 400 field_too_long naming it', () => {
      rejects(() => validateMetadata('container.created', { container_id: 'c'.repeat(257) }), 400, 'field_too_long', 'metadata.container_id');
    });
  });

  describe('parseEvent', () => {
    it('accepts a valid event and lower-cases its id', () => {
      const parsed = parseEvent(
        event({
          id: '01890A5D-AC96-774B-BCCE-B302099A8058',
          occurred_at: new Date().toISOString(),
          object: { type: 'file', id: 'f-1' },
          request_id: 'req-1:a.b',
          trace_id: '4bf92f3577b34da6a3ce929d0e0e4736',
          span_id: '00f067aa0ba902b7',
        }),
      );
      assert.equal(parsed.id, '01890a5d-ac96-774b-bcce-b302099a8058');
      assert.deepEqual(parsed.metadata, { method: 'password', mfa: true });
      assert.deepEqual(parsed.object, { type: 'file', id: 'f-1' });
      assert.equal(parsed.trace_id, '4bf92f3577b34da6a3ce929d0e0e4736');
    });

    it('accepts events of several actions, and no metadata as {}', () => {
      assert.deepEqual(parseEvent(event({ action: 'auth.email.verified', metadata: undefined })).metadata, {});
      const { metadata: _omit, ...bare } = event({ action: 'auth.logout' });
      assert.deepEqual(parseEvent(bare).metadata, {});
      parseEvent(event({ action: 'workflow.run.failed', status: 'failure', metadata: { workflow_id: 'w', run_id: 'r', error_code: 'E1' } }));
      parseEvent(event({ action: 'vector.sync.changed', actor: { type: 'service', id: 'indexer' }, metadata: { index_id: 'i', state: 'paused', documents: 5 } }));
      parseEvent(event({ action: 'container.bound', actor: { type: 'api_key', id: 'k-1', display: 'CI key' }, metadata: { container_id: 'c', target_type: 'run', target_id: 'r' } }));
    });

    it('rejects a body that is not an object with 400 invalid_body', () => {
      rejects(() => parseEvent([]), 400, 'invalid_body', 'body');
      rejects(() => parseEvent('x'), 400, 'invalid_body', 'body');
      rejects(() => parseEvent(null), 400, 'invalid_body', 'body');
    });

    it('rejects a missing field with 400 missing_field naming it', () => {
      const { status: _omit, ...noStatus } = event();
      rejects(() => parseEvent(noStatus), 400, 'missing_field', 'status');
      rejects(() => parseEvent(event({ actor: { type: 'user' } })), 400, 'missing_field', 'actor.id');
    });

    it('rejects a bad value with 400 invalid_field naming it', () => {
      rejects(() => parseEvent(event({ status: 'ok' })), 400, 'invalid_field', 'status');
      rejects(() => parseEvent(event({ id: 'not-a-uuid' })), 400, 'invalid_field', 'id');
      rejects(() => parseEvent(event({ id: 'urn:uuid:01890a5d-ac96-774b-bcce-b302099a8058' })), 400, 'invalid_field', 'id');
      rejects(() => parseEvent(event({ actor: { type: 'robot', id: 'x' } })), 400, 'invalid_field', 'actor.type');
      rejects(() => parseEvent(event({ request_id: 'has space' })), 400, 'invalid_field', 'request_id');
      // Every id the agent keeps for a request is accepted (base64 and e-mail-like ids included).
      assert.equal(parseEvent(event({ request_id: 'a@b.example/c+d==' })).request_id, 'a@b.example/c+d==');
      rejects(() => parseEvent(event({ trace_id: '0'.repeat(32) })), 400, 'invalid_field', 'trace_id');
      rejects(() => parseEvent(event({ trace_id: '4BF92F3577B34DA6A3CE929D0E0E4736' })), 400, 'invalid_field', 'trace_id');
      rejects(() => parseEvent(event({ span_id: 'abc' })), 400, 'invalid_field', 'span_id');
      rejects(() => parseEvent(event({ metadata: [] })), 400, 'invalid_field', 'metadata');
    });

    it('says in the message what a malformed value should look like', () => {
      assert.match(rejects(() => parseEvent(event({ id: 'x' })), 400, 'invalid_field', 'id').message, /must be a UUID/);
      assert.match(rejects(() => parseEvent(event({ occurred_at: 'yesterday' })), 400, 'invalid_field', 'occurred_at').message, /RFC 3339/);
      assert.match(rejects(() => parseEvent(event({ status: 'ok' })), 400, 'invalid_field', 'status').message, /success, failure/);
      assert.match(rejects(() => parseEvent(event({ ip: '1.2.3.4' })), 400, 'unknown_field', 'ip').message, /connection/);
    });

    it('rejects occurred_at without an offset, more than 24 h ahead, or before 2000 with 400 invalid_field', () => {
      rejects(() => parseEvent(event({ occurred_at: '2026-11-22T10:00:00' })), 400, 'invalid_field', 'occurred_at');
      rejects(() => parseEvent(event({ occurred_at: '2026-11-22 10:00:00Z' })), 400, 'invalid_field', 'occurred_at');
      rejects(() => parseEvent(event({ occurred_at: '2026-02-30T10:00:00Z' })), 400, 'invalid_field', 'occurred_at');
      rejects(() => parseEvent(event({ occurred_at: new Date(Date.now() + 25 * 3_600_000).toISOString() })), 400, 'invalid_field', 'occurred_at');
      rejects(() => parseEvent(event({ occurred_at: '1999-12-31T23:59:59Z' })), 400, 'invalid_field', 'occurred_at');
      parseEvent(event({ occurred_at: new Date(Date.now() + 23 * 3_600_000).toISOString().replace('Z', '+00:00') }));
    });

    it('rejects a tenant_id or ip in the body with 400 unknown_field naming it', () => {
      rejects(() => parseEvent(event({ tenant_id: 'tenant-b' })), 400, 'unknown_field', 'tenant_id');
      rejects(() => parseEvent(event({ ip: '10.0.0.1' })), 400, 'unknown_field', 'ip');
      rejects(() => parseEvent(event({ actor: { type: 'user', id: 'u', email: 'a@b.c' } })), 400, 'unknown_field', 'actor.email');
    });

    it('rejects a too-long string with 400 field_too_long naming it, never truncating', () => {
      rejects(() => parseEvent(event({ actor: { type: 'user', id: 'x'.repeat(257) } })), 400, 'field_too_long', 'actor.id');
      rejects(() => parseEvent(event({ action: 'a'.repeat(101) })), 400, 'field_too_long', 'action');
      rejects(() => parseEvent(event({ request_id: 'r'.repeat(129) })), 400, 'field_too_long', 'request_id');
      assert.equal(parseEvent(event({ actor: { type: 'user', id: 'x'.repeat(256) } })).actor.id.length, 256);
    });

    it('rejects an unknown action with 400 unknown_action naming action', () => {
      rejects(() => parseEvent(event({ action: 'auth.login.maybe' })), 400, 'unknown_action', 'action');
    });

    it('rejects metadata that does not fit the action with 400 invalid_metadata naming the field', () => {
      rejects(() => parseEvent(event({ action: 'auth.login.failure', status: 'failure', metadata: {} })), 400, 'invalid_metadata', 'metadata.reason');
    });

    it(`rejects metadata over ${MAX_METADATA_BYTES} bytes of UTF-8 JSON with 413 metadata_too_large`, () => {
      const filters = (q: string) => event({ action: 'activity.exported', metadata: { format: 'csv', filters: { q } } });
      const overhead = Buffer.byteLength(JSON.stringify({ format: 'csv', filters: { q: '' } }));
      parseEvent(filters('x'.repeat(MAX_METADATA_BYTES - overhead)));
      rejects(() => parseEvent(filters('x'.repeat(MAX_METADATA_BYTES - overhead + 1))), 413, 'metadata_too_large', 'metadata');
      // Bytes, not characters: 3000 euro signs are 9000 bytes.
      rejects(() => parseEvent(filters('€'.repeat(3000))), 413, 'metadata_too_large', 'metadata');
    });
  });

  describe('parseBatch', () => {
    it('parses 1 to 1000 events', () => {
      assert.equal(parseBatch({ events: [event()] }).length, 1);
      assert.equal(parseBatch({ events: Array.from({ length: MAX_BATCH }, () => event()) }).length, MAX_BATCH);
    });

    it('names the event index in the field path of an error inside a batch', () => {
      rejects(() => parseBatch({ events: [event(), event(), event({ status: 'nope' })] }), 400, 'invalid_field', 'events[2].status');
      rejects(() => parseBatch({ events: [event(), event(), event({ action: 'auth.login.failure', metadata: {} })] }), 400, 'invalid_metadata', 'events[2].metadata.reason');
      rejects(() => parseBatch({ events: [event(), event(), event({ action: 'nope' })] }), 400, 'unknown_action', 'events[2].action');
      rejects(() => parseBatch({ events: [event(), event(), 7] }), 400, 'invalid_body', 'events[2]');
      rejects(() => parseBatch({ events: [event(), event(), event({ ip: '1.2.3.4' })] }), 400, 'unknown_field', 'events[2].ip');
    });

    it('rejects more than 1000 events with 413 batch_too_large naming events', () => {
      rejects(() => parseBatch({ events: Array.from({ length: MAX_BATCH + 1 }, () => event()) }), 413, 'batch_too_large', 'events');
    });

    it('rejects an empty, missing or non-array events with 400', () => {
      rejects(() => parseBatch({ events: [] }), 400, 'invalid_field', 'events');
      rejects(() => parseBatch({}), 400, 'missing_field', 'events');
      rejects(() => parseBatch({ events: {} }), 400, 'invalid_field', 'events');
      rejects(() => parseBatch([event()]), 400, 'invalid_body', 'body');
      rejects(() => parseBatch({ events: [event()], tenant_id: 't' }), 400, 'unknown_field', 'tenant_id');
    });

    it('rejects the same id twice in one batch with 400 duplicate_id naming the second', () => {
      const id = '01890a5d-ac96-774b-bcce-b302099a8058';
      rejects(() => parseBatch({ events: [event({ id }), event(), event({ id: id.toUpperCase() })] }), 400, 'duplicate_id', 'events[2].id');
    });
  });

  describe('scrubbing', () => {
    it('removes secret keys from metadata and records their paths in _removed_keys', () => {
      const parsed = parseEvent(event({ action: 'activity.exported', metadata: { format: 'jsonl', filters: { status: 'failure', api_key: 'k-123', password: 'hunter2' } } }));
      assert.deepEqual(parsed.metadata, { format: 'jsonl', filters: { status: 'failure' }, _removed_keys: ['filters.api_key', 'filters.password'] });
    });

    it('adds no _removed_keys when nothing was removed', () => {
      assert.equal('_removed_keys' in parseEvent(event()).metadata, false);
    });

    it('keeps a field whose name looks secret but whose value is from a closed set (token_type)', () => {
      const parsed = parseEvent(event({ action: 'auth.token.refreshed', metadata: { token_type: 'refresh', expires_in_s: 3600 } }));
      assert.deepEqual(parsed.metadata, { token_type: 'refresh', expires_in_s: 3600 });
    });

    it('scrubMetadata removes nested and array-held secret keys and copies the rest', () => {
      const input = { a: { session_id: 's', ok: 1 }, list: [{ accessToken: 't', n: null }], flag: true };
      const { value, removedKeys } = scrubMetadata(input);
      assert.deepEqual(value, { a: { ok: 1 }, list: [{ n: null }], flag: true });
      assert.deepEqual(removedKeys, ['a.session_id', 'list[0].accessToken']);
      assert.deepEqual(input.a, { session_id: 's', ok: 1 }, 'the input is left as it was');
    });

    it('scrubMetadata keeps a "__proto__" key as data', () => {
      const { value } = scrubMetadata(JSON.parse('{"filters":{"__proto__":"x"}}') as Record<string, unknown>);
      assert.deepEqual(Object.keys(value.filters as object), ['__proto__']);
    });

    it('replaces JWTs and Bearer credentials in metadata values, ids and display names', () => {
      const parsed = parseEvent(
        event({
          action: 'workflow.run.failed',
          status: 'failure',
          actor: { type: 'service', id: `svc ${JWT}`, display: 'Bearer abcdefgh12345678' },
          object: { type: 'run', id: `r ${JWT}` },
          metadata: { workflow_id: 'w1', run_id: 'r1', error_code: `bad token ${JWT}` },
        }),
      );
      const stored = JSON.stringify(parsed);
      assert.ok(!stored.includes(JWT), stored);
      assert.ok(!stored.includes('abcdefgh12345678'), stored);
      assert.equal(parsed.metadata.error_code, 'bad token [REDACTED]');
      assert.equal(parsed.actor.display, 'Bearer [REDACTED]');
    });

    it('keeps an e-mail actor id and a phone object id (the trail must say who) while metadata loses them', () => {
      const parsed = parseEvent(
        event({
          action: 'workflow.run.failed',
          status: 'failure',
          actor: { type: 'user', id: 'jane.doe@example.com', display: 'Jane <jane.doe@example.com>' },
          object: { type: 'run', id: '+44 20 7946 0958' },
          metadata: { workflow_id: 'w1', run_id: 'r1', error_code: 'notified jane.doe@example.com' },
        }),
      );
      assert.equal(parsed.actor.id, 'jane.doe@example.com');
      assert.equal(parsed.actor.display, 'Jane <jane.doe@example.com>');
      assert.equal(parsed.object?.id, '+44 20 7946 0958');
      assert.equal(parsed.metadata.error_code, 'notified [REDACTED]');
    });

    it('neutralises CR and LF in values and keys, one space each', () => {
      const parsed = parseEvent(
        event({
          action: 'activity.exported',
          actor: { type: 'user', id: 'u\r\n1', display: 'Eve\nInjected: yes' },
          metadata: { format: 'csv', filters: { 'a\r\nb': 'x\ny' } },
        }),
      );
      assert.equal(parsed.actor.id, 'u  1');
      assert.equal(parsed.actor.display, 'Eve Injected: yes');
      assert.deepEqual(parsed.metadata.filters, { 'a  b': 'x y' });
      assert.equal(scrubText('a\rb\nc'), 'a b c');
    });

    it('scrubText redacts a card number and a password in a URL', () => {
      assert.equal(scrubText('card 4111 1111 1111 1111'), 'card [REDACTED]');
      assert.equal(scrubText('postgres://app:s3cret@db/x'), 'postgres://app:[REDACTED]@db/x');
    });
  });

  describe('uuidv7', () => {
    const FORMAT = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

    it('has the RFC 9562 layout: version 7, variant 10', () => {
      for (let i = 0; i < 100; i++) assert.match(uuidv7(), FORMAT);
    });

    it('puts the millisecond timestamp in the first 48 bits', () => {
      const ms = Date.UTC(2026, 10, 22, 10, 0, 0, 123);
      const id = uuidv7(ms);
      assert.match(id, FORMAT);
      assert.equal(parseInt(id.replace(/-/g, '').slice(0, 12), 16), ms);
      assert.ok(uuidv7(0).startsWith('00000000-0000-7'));
      assert.throws(() => uuidv7(2 ** 48), RangeError);
    });

    it('is strictly increasing across many ids made in the same millisecond', () => {
      const ids = Array.from({ length: 5000 }, () => uuidv7());
      for (let i = 1; i < ids.length; i++) assert.ok(ids[i - 1]! < ids[i]!, `${ids[i - 1]} < ${ids[i]}`);
      assert.equal(new Set(ids).size, ids.length);
    });

    it('sorts by timestamp across milliseconds', () => {
      assert.ok(uuidv7(1_700_000_000_000) < uuidv7(1_700_000_000_001));
    });
  });

  describe('hashIp', () => {
    it('is HMAC-SHA256 hex: the same address and key give the same hash, another key another', () => {
      const a = hashIp('key-one', '203.0.113.7');
      assert.match(a, /^[0-9a-f]{64}$/);
      assert.equal(hashIp('key-one', '203.0.113.7'), a);
      assert.equal(hashIp(Buffer.from('key-one'), '203.0.113.7'), a);
      assert.notEqual(hashIp('key-two', '203.0.113.7'), a);
      assert.notEqual(hashIp('key-one', '203.0.113.8'), a);
    });

    it('treats an IPv4-mapped IPv6 address as its IPv4 address', () => {
      assert.equal(hashIp('k', '::ffff:203.0.113.7'), hashIp('k', '203.0.113.7'));
      assert.equal(hashIp('k', '::FFFF:203.0.113.7'), hashIp('k', '203.0.113.7'));
    });

    it('treats spellings of one IPv6 address alike', () => {
      assert.equal(hashIp('k', '2001:DB8:0:0::1'), hashIp('k', '2001:db8::1'));
      assert.equal(hashIp('k', '2001:0db8:0000:0000:0000:0000:0000:0001'), hashIp('k', '2001:db8::1'));
    });
  });
});
