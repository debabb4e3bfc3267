import assert from 'node:assert/strict';
import { redactionSettings } from '../src/config.js';
import { createRedactionPolicy, installRedactionPolicy, redactionPolicy, REDACTED } from '../src/redact.js';

/** Runs `fn` with process.stderr.write captured. */
function captureStderr<T>(fn: () => T): { result: T; stderr: string } {
  const original = process.stderr.write.bind(process.stderr);
  let stderr = '';
  process.stderr.write = ((chunk: string) => {
    stderr += chunk;
    return true;
  }) as typeof process.stderr.write;
  try {
    return { result: fn(), stderr };
  } finally {
    process.stderr.write = original;
  }
}

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

  it('treats keys naming an e-mail address or a phone number as personal data, as the last word of the key only', () => {
    for (const key of ['email', 'user.email', 'contact_email', 'emailAddress', 'e-mail', 'phone', 'phoneNumber', 'user.phone_number', 'mobile_number', 'msisdn', 'telephone']) {
      assert.equal(policy.isSensitiveKey(key), true, key);
    }
    for (const key of ['email_verified', 'emailCount', 'phone_verified', 'phone.country', 'mailbox', 'mobile', 'headphones']) {
      assert.equal(policy.isSensitiveKey(key), false, key);
    }
  });

  it('replaces e-mail addresses inside strings, URL-encoded ones included', () => {
    for (const [input, output] of [
      ['jane.doe+x@mail.example.co.uk', REDACTED],
      ['mail me: jane@example.com.', `mail me: ${REDACTED}.`],
      ['Jane Doe <jane_doe@example.org>', `Jane Doe <${REDACTED}>`],
      ['/reset?email=jane%40example.com&ttl=60', `/reset?email=${REDACTED}&ttl=60`],
      ['mailto:ops@example.io', `mailto:${REDACTED}`],
    ]) {
      assert.equal(policy.redactString(input!), output, input);
    }
  });

  it('replaces phone numbers written as such: international, North American and with a trunk 0', () => {
    for (const [input, output] of [
      ['+44 20 7946 0958', REDACTED],
      ['call +1 415 555 0132 now', `call ${REDACTED} now`],
      ['+1 (415) 555-0132', REDACTED],
      ['tel:+14155550132', `tel:${REDACTED}`],
      ['+33 (0)1 23 45 67 89', REDACTED],
      ['(415) 555-0132', REDACTED],
      ['415-555-0132', REDACTED],
      ['415.555.0132', REDACTED],
      ['1-800-555-0199', REDACTED],
      ['office: 020 7946 0958', `office: ${REDACTED}`],
      ['07700 900123', REDACTED],
      ['01 23 45 67 89', REDACTED],
      ['030-12345678', REDACTED],
      ['(02) 9876 5432', REDACTED],
    ]) {
      assert.equal(policy.redactString(input!), output, input);
    }
  });

  it('replaces US SSNs, but not numbers in the ranges never issued', () => {
    assert.equal(policy.redactString('ssn 078-05-1120 on file'), `ssn ${REDACTED} on file`);
    for (const never of ['000-12-3456', '666-12-3456', '900-12-3456', '123-00-4567', '123-45-0000']) {
      assert.equal(policy.redactString(`ssn ${never}`), `ssn ${never}`, never);
    }
  });

  it('leaves ids, timestamps, addresses, versions and other numbers as they are', () => {
    for (const value of [
      '550e8400-e29b-41d4-a716-446655440000',
      '12345678-1234-1234-1234-123456789012',
      '4bf92f3577b34da6a3ce929d0e0e4736',
      '00f067aa0ba902b7',
      '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
      '2026-11-29T10:00:00.123Z',
      '2026-11-29T10:00:00+01:00',
      '2026-11-29 10:00:00',
      'at 1763789012345 ms',
      '1763789012',
      'from 192.168.100.200 to 10.0.0.1:5432',
      '::ffff:127.0.0.1',
      'node v24.11.1, api 1.10.0-rc.1',
      'order 2024-000123',
      'INV-415-555-0132',
      'ports 8080, 8081, 8443',
      'ports 3000 3001 3002',
      'id 0012-3456-789',
      'due 01.12.2024 10:30',
      'commit a94a8fe5ccb19ba61c4c0873d391e987982fbbd3 (9fceb02)',
      'took 123 456 ms',
      'retries +3, delta +5, tz +0530',
      'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36',
      'ssh://git@github.com/acme/repo.git',
      'git@github.com:acme/repo.git',
      'https://deploy@build.example.com/x',
      'icon@2x.png',
      '@opentelemetry/api@1.10.0',
      'user@localhost',
    ]) {
      assert.equal(policy.redactString(value), value);
    }
  });

  it('turns each personal-data class off, in values and keys, with its switch', () => {
    const noEmails = createRedactionPolicy([], { emails: false });
    assert.equal(noEmails.redactString('jane@example.com, 415-555-0132'), `jane@example.com, ${REDACTED}`);
    assert.equal(noEmails.isSensitiveKey('email'), false);
    const noPhones = createRedactionPolicy([], { phones: false });
    assert.equal(noPhones.redactString('jane@example.com, 415-555-0132, 078-05-1120'), `${REDACTED}, 415-555-0132, ${REDACTED}`);
    assert.equal(noPhones.isSensitiveKey('phone'), false);
    const noSsns = createRedactionPolicy([], { ssns: false });
    assert.equal(noSsns.redactString('078-05-1120, +44 20 7946 0958'), `078-05-1120, ${REDACTED}`);
    assert.equal(noSsns.isSensitiveKey('ssn'), true, 'a key naming an SSN stays secret, as every credential key');
    // Credentials stay whatever the switches say.
    const none = createRedactionPolicy([], { emails: false, phones: false, ssns: false });
    assert.equal(none.redactString('token=abcd1234 jane@example.com'), `token=${REDACTED} jane@example.com`);
  });

  it('copies an error with its message, stack and cause redacted, leaving the original as it was', () => {
    const cause = new Error('lookup of jane@example.com');
    const error = Object.assign(new TypeError('no account for jane@example.com', { cause }), { code: 'E_NOACCOUNT', password: 'x' });
    const copy = policy.redactValue(error);
    assert.ok(copy instanceof TypeError);
    assert.notEqual(copy, error);
    assert.equal(copy.message, `no account for ${REDACTED}`);
    assert.match(copy.stack!, /^TypeError: no account for \[REDACTED\]\n/);
    assert.equal((copy.cause as Error).message, `lookup of ${REDACTED}`);
    assert.deepEqual({ ...copy }, { code: 'E_NOACCOUNT', password: REDACTED });
    assert.deepEqual(Object.keys(copy), Object.keys(error), 'message and stack stay non-enumerable');
    assert.equal(error.message, 'no account for jane@example.com');
    assert.equal(error.password, 'x');
  });

  it('reads LOOKOUT_REDACT_EMAILS, _PHONES and _SSNS, each on unless "false", and warns about any other value', () => {
    assert.deepEqual(redactionSettings({}), { keys: [], classes: { emails: true, phones: true, ssns: true } });
    assert.deepEqual(redactionSettings({ LOOKOUT_REDACT_KEYS: 'iban', LOOKOUT_REDACT_EMAILS: 'false', LOOKOUT_REDACT_SSNS: 'FALSE' }), {
      keys: ['iban'],
      classes: { emails: false, phones: true, ssns: false },
    });
    const { result, stderr } = captureStderr(() => redactionSettings({ LOOKOUT_REDACT_PHONES: 'no' }));
    assert.equal(result.classes.phones, true);
    assert.match(stderr, /LOOKOUT_REDACT_PHONES="no" is not "true" or "false"; the default true is used/);
  });

  it('makes the policy the agent installs the process-wide one, which the library half and the audit API use', () => {
    try {
      const installed = installRedactionPolicy([], { emails: false, phones: true, ssns: true });
      assert.equal(redactionPolicy(), installed);
      assert.equal(redactionPolicy().redactString('jane@example.com'), 'jane@example.com');
    } finally {
      const { keys, classes } = redactionSettings();
      installRedactionPolicy(keys, classes);
    }
  });
});
