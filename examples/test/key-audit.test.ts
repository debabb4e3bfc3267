// The gateway's per-key rate limit and what it records about API keys, on a clock the test moves: a key's
// successful authentication once per interval, refusals once per interval with the repeats in between.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, it } from 'mocha';
import type { AuditClient, AuditRecordOptions } from '@lookout/agent';
import { KeyAudit, keyId, requestOf } from '../src/lib/key-audit.js';
import { RateLimiter } from '@lookout/agent';

/** A throwaway audit client that keeps what it is given (the real one is exercised end to end in e2e.test.ts). */
function keptEvents(): { client: AuditClient; events: Array<{ action: string } & AuditRecordOptions> } {
  const events: Array<{ action: string } & AuditRecordOptions> = [];
  const client: AuditClient = {
    record: (action, options) => {
      events.push({ action, ...options });
      return String(events.length);
    },
    flush: async () => undefined,
    shutdown: async () => undefined,
    stats: { recorded: 0, delivered: 0, dropped: {}, buffered: 0 } as AuditClient['stats'],
  };
  return { client, events };
}

describe('the gateway: API key ids, rate limit and authentication records', () => {
  it('names a key by the first 32 hex characters of HMAC-SHA256 under the gateway key: stable, keyed, not the key', () => {
    const key = Buffer.from('k'.repeat(32));
    assert.equal(keyId(key, 'demo-key-acme'), createHmac('sha256', key).update('demo-key-acme').digest('hex').slice(0, 32));
    assert.equal(keyId(key, 'demo-key-acme'), keyId(key, 'demo-key-acme'));
    assert.notEqual(keyId(Buffer.from('other-key-0123456789'), 'demo-key-acme'), keyId(key, 'demo-key-acme'), 'another gateway key, another id');
    assert.match(keyId(key, 'x'), /^[0-9a-f]{32}$/);
  });

  it('allows a burst, then one request per 1/rate seconds, and says how long to wait (at least 1 s)', () => {
    let now = 0;
    const limiter = new RateLimiter(2, 3, () => now);
    assert.deepEqual([limiter.take('a'), limiter.take('a'), limiter.take('a')], [0, 0, 0]);
    assert.equal(limiter.take('a'), 1);
    assert.equal(limiter.take('b'), 0, 'each key has its own bucket');
    now += 500;
    assert.deepEqual([limiter.take('a'), limiter.take('a')], [0, 1]);
    const slow = new RateLimiter(0.1, 1, () => now);
    assert.deepEqual([slow.take('a'), slow.take('a')], [0, 10]);
    now += 60_000;
    assert.deepEqual([limiter.take('a'), limiter.take('a'), limiter.take('a'), limiter.take('a')], [0, 0, 0, 1], 'refilled to the burst, not beyond');
  });

  it('keeps at most 10,000 buckets, forgetting full ones, so a spray of keys cannot grow it', () => {
    let now = 0;
    const limiter = new RateLimiter(1, 1, () => now);
    for (let i = 0; i < 10_000; i++) limiter.take(`k${i}`);
    now += 1000;
    assert.equal(limiter.take('new'), 0);
    assert.equal((limiter as unknown as { buckets: Map<string, unknown> }).buckets.size, 1, 'every refilled bucket was forgotten');
  });

  it('records a key\'s successful authentication once per interval per key', () => {
    let now = 0;
    const { client, events } = keptEvents();
    const keys = new KeyAudit({ audit: client, acceptedEveryMs: 900_000, refusedEveryMs: 60_000, systemTenant: '_system', now: () => now });
    const request = requestOf('GET', '/api/runs');
    for (let i = 0; i < 5; i++) keys.accepted('acme', 'alice', 'id-alice-1', request);
    keys.accepted('acme', 'bob', 'id-bob-0001', request);
    now += 900_000;
    keys.accepted('acme', 'alice', 'id-alice-1', request);
    assert.deepEqual(
      events.map((e) => [e.action, e.tenant, e.actor.id, e.object?.id, e.status]),
      [
        ['auth.api_key.accepted', 'acme', 'alice', 'id-alice-1', 'success'],
        ['auth.api_key.accepted', 'acme', 'bob', 'id-bob-0001', 'success'],
        ['auth.api_key.accepted', 'acme', 'alice', 'id-alice-1', 'success'],
      ],
    );
    assert.deepEqual(events[0]!.metadata, { key_id: 'id-alice-1', method: 'GET', path: '/api/runs' });
  });

  it('records refusals under the system tenant once per key and reason per interval, with the repeats since the last record', () => {
    let now = 0;
    const { client, events } = keptEvents();
    const keys = new KeyAudit({ audit: client, acceptedEveryMs: 900_000, refusedEveryMs: 60_000, systemTenant: '_system', now: () => now });
    const request = requestOf('POST', `/api/${'x'.repeat(2000)}`);
    for (let i = 0; i < 4; i++) keys.rejected('unknown', 'id-wrong-01', request);
    keys.rejected('missing', undefined, request);
    keys.rateLimited('acme', 'alice', 'id-alice-1', { perSecond: 1, burst: 2, retryAfterS: 1 }, request);
    keys.rateLimited('acme', 'alice', 'id-alice-1', { perSecond: 1, burst: 2, retryAfterS: 1 }, request);
    now += 60_000;
    keys.rejected('unknown', 'id-wrong-01', request);
    keys.rateLimited('acme', 'alice', 'id-alice-1', { perSecond: 1, burst: 2, retryAfterS: 1 }, request);
    assert.deepEqual(
      events.map((e) => [e.action, e.tenant, e.actor.type, e.actor.id, e.metadata!.reason ?? null, e.metadata!.repeats]),
      [
        ['auth.api_key.rejected', '_system', 'api_key', 'id-wrong-01', 'unknown', 0],
        ['auth.api_key.rejected', '_system', 'system', 'anonymous', 'missing', 0],
        ['auth.api_key.rate_limited', 'acme', 'user', 'alice', null, 0],
        ['auth.api_key.rejected', '_system', 'api_key', 'id-wrong-01', 'unknown', 3],
        ['auth.api_key.rate_limited', 'acme', 'user', 'alice', null, 1],
      ],
    );
    assert.equal((events[0]!.metadata!.path as string).length, 1024, 'the path is cut to what the schema takes');
    assert.ok(events.every((e) => e.status === 'failure'));
  });
});
