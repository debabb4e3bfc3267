// Scrubbing: secrets, credentials and line breaks removed from events before they are stored.
import assert from 'node:assert/strict';
import { parseEvent } from '../../src/domain/event.js';
import { scrubMetadata, scrubText } from '../../src/domain/scrub.js';
import { event } from './fixtures.js';

const JWT = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJlc2lnbmF0dXJl';

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
