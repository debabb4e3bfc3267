// Event parsing: parseEvent and parseBatch, and the errors they answer with.
import assert from 'node:assert/strict';
import { MAX_BATCH } from '@lookout/agent';
import { MAX_METADATA_BYTES, parseBatch, parseEvent } from '../../src/domain/event.js';
import { event, rejects } from './fixtures.js';

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
