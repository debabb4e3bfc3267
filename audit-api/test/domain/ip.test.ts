// Client IPs: hashIp, the keyed hash stored instead of the address.
import assert from 'node:assert/strict';
import { hashIp } from '../../src/domain/ip.js';

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
