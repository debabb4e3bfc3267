import assert from 'node:assert/strict';
import { createRedactionPolicy, REDACTED } from '../src/redact.js';

describe('redaction policy', () => {
  const policy = createRedactionPolicy(['internal_ref']);

  it('treats password, secret, token, api key, authorization, cookie, session, ssn, tax id and card keys as secret', () => {
    for (const key of [
      'password',
      'user.password',
      'db_passwd',
      'clientSecret',
      'access_token',
      'refreshToken',
      'x-api-key',
      'apiKey',
      'http.request.header.authorization',
      'Cookie',
      'set-cookie',
      'session_id',
      'ssn',
      'customer.ssn',
      'tax_id',
      'card_number',
      'creditCard',
      'pan',
      'cvv',
      'auth.pass',
      'passphrase',
    ]) {
      assert.equal(policy.isSensitiveKey(key), true, key);
    }
  });

  it('leaves ordinary keys alone, including token counts and words that merely contain a short fragment', () => {
    for (const key of ['user', 'name', 'classname', 'company', 'gen_ai.usage.input_tokens', 'http.route', 'spinner', 'status']) {
      assert.equal(policy.isSensitiveKey(key), false, key);
    }
  });

  it('adds the keys named in LOOKOUT_REDACT_KEYS', () => {
    assert.equal(policy.isSensitiveKey('order.internal_ref'), true);
  });

  it('replaces JWTs, bearer credentials, secret query parameters and Luhn-valid card numbers inside strings', () => {
    const jwt = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJlLXNpZw';
    assert.equal(policy.redactString(`token is ${jwt} ok`), `token is ${REDACTED} ok`);
    assert.equal(policy.redactString('Authorization: Bearer abcdefghijklmnop'), `Authorization: Bearer ${REDACTED}`);
    assert.equal(policy.redactString('https://x.test/cb?code=1&access_token=abc123&x=2'), `https://x.test/cb?code=1&access_token=${REDACTED}&x=2`);
    assert.equal(policy.redactString('token=abcd1234&page=2'), `token=${REDACTED}&page=2`);
    assert.equal(policy.redactString('paid with 4111 1111 1111 1111 today'), `paid with ${REDACTED} today`);
    // Not Luhn-valid: an order number, not a card. A millisecond timestamp is no card either.
    assert.equal(policy.redactString('order 1234 5678 9012 3456'), 'order 1234 5678 9012 3456');
    assert.equal(policy.redactString('at 1763789012345 ms'), 'at 1763789012345 ms');
    assert.equal(policy.redactString('postgres://app:s3cret@db:5432/x'), `postgres://app:${REDACTED}@db:5432/x`);
  });

  it('redacts attribute maps in place and nested values by copy', () => {
    const attributes: Record<string, unknown> = { 'user.password': 'hunter2', 'url.query': 'api_key=k1234567', ok: 'fine' };
    assert.equal(policy.redactAttributesInPlace(attributes), 2);
    assert.deepEqual(attributes, { 'user.password': REDACTED, 'url.query': `api_key=${REDACTED}`, ok: 'fine' });

    const input = { user: { name: 'ann', credentials: { password: 'x' } }, list: [{ secret: 's' }, 'Bearer abcdefghijkl'] };
    const out = policy.redactValue(input);
    assert.deepEqual(out, { user: { name: 'ann', credentials: REDACTED }, list: [{ secret: REDACTED }, `Bearer ${REDACTED}`] });
    assert.equal(input.user.credentials.password, 'x', 'the input is not modified');
  });
});
