// The audit API's configuration: every variable it reads, each with a value taken and a value refused at start
// with a message naming it; booleans as the OpenTelemetry spec reads them (1, 0 and yes are refused, not guessed).
import assert from 'node:assert/strict';
import { describe, it } from 'mocha';
import { ConfigError, loadConfig, loadDatabaseUrl, loadRetentionConfig, type AuditConfig } from '../src/config.js';

const REQUIRED = { LOOKOUT_AUDIT_IP_HMAC_KEY: 'ip-hmac-key-0123456789', LOOKOUT_AUDIT_JWT_SECRET: 's'.repeat(32) };
const JWKS = { LOOKOUT_AUDIT_JWKS_URL: 'https://idp.example/jwks.json', LOOKOUT_AUDIT_JWT_ISSUER: 'https://idp.example/', LOOKOUT_AUDIT_JWT_AUDIENCE: 'lookout' };

const refuses = (load: () => unknown, message: RegExp) => assert.throws(load, (err: Error) => err instanceof ConfigError && message.test(err.message));

interface Row {
  variable: string;
  good: string;
  read: (config: AuditConfig) => unknown;
  expected: unknown;
  /** Undefined where any string is taken as it is. */
  bad?: string;
  refused?: RegExp;
  /** Other variables the row needs (JWKS mode). */
  with?: Record<string, string>;
}

const rows: Row[] = [
  { variable: 'DATABASE_URL', good: 'postgres://db/audit', read: (c) => c.databaseUrl, expected: 'postgres://db/audit' },
  { variable: 'PORT', good: '0', read: (c) => c.port, expected: 0, bad: '65536', refused: /^PORT must be an integer from 0 to 65535, got "65536"$/ },
  { variable: 'LOOKOUT_AUDIT_HOST', good: '127.0.0.1', read: (c) => c.host, expected: '127.0.0.1' },
  { variable: 'LOOKOUT_AUDIT_JWT_SECRET', good: 'k'.repeat(40), read: (c) => c.auth.mode, expected: 'hs256', bad: 'k'.repeat(31), refused: /^LOOKOUT_AUDIT_JWT_SECRET must be at least 32 characters/ },
  { variable: 'LOOKOUT_AUDIT_JWT_SECRET_PREVIOUS', good: 'p'.repeat(32), read: (c) => c.auth.mode === 'hs256' && Buffer.from(c.auth.previousSecret!).toString(), expected: 'p'.repeat(32), bad: 'p'.repeat(31), refused: /^LOOKOUT_AUDIT_JWT_SECRET_PREVIOUS must be at least 32 characters/ },
  { variable: 'LOOKOUT_AUDIT_JWKS_URL', with: JWKS, good: 'https://idp.example/keys', read: (c) => c.auth.mode === 'jwks' && c.auth.jwksUrl.href, expected: 'https://idp.example/keys', bad: 'idp/keys', refused: /^LOOKOUT_AUDIT_JWKS_URL is not a URL: "idp\/keys"$/ },
  { variable: 'LOOKOUT_AUDIT_JWT_ISSUER', with: JWKS, good: 'https://other.example/', read: (c) => c.auth.issuer, expected: 'https://other.example/', bad: '', refused: /^LOOKOUT_AUDIT_JWKS_URL needs LOOKOUT_AUDIT_JWT_ISSUER and LOOKOUT_AUDIT_JWT_AUDIENCE/ },
  { variable: 'LOOKOUT_AUDIT_JWT_AUDIENCE', with: JWKS, good: 'audit', read: (c) => c.auth.audience, expected: 'audit', bad: '', refused: /^LOOKOUT_AUDIT_JWKS_URL needs LOOKOUT_AUDIT_JWT_ISSUER and LOOKOUT_AUDIT_JWT_AUDIENCE/ },
  { variable: 'LOOKOUT_AUDIT_JWT_ALGORITHMS', with: JWKS, good: 'ES256, EdDSA', read: (c) => c.auth.mode === 'jwks' && c.auth.algorithms, expected: ['ES256', 'EdDSA'], bad: 'RS256,HS256', refused: /^LOOKOUT_AUDIT_JWT_ALGORITHMS must list asymmetric algorithms only with a JWKS; "HS256" is not allowed$/ },
  { variable: 'LOOKOUT_AUDIT_JWKS_COOLDOWN_S', with: JWKS, good: '5', read: (c) => c.auth.mode === 'jwks' && c.auth.cooldownMs, expected: 5000, bad: '0', refused: /^LOOKOUT_AUDIT_JWKS_COOLDOWN_S must be an integer from 1 to 3600, got "0"$/ },
  { variable: 'LOOKOUT_AUDIT_IP_HMAC_KEY', good: 'another-key-of-16+', read: (c) => c.ipHmacKey.toString(), expected: 'another-key-of-16+', bad: 'short', refused: /^LOOKOUT_AUDIT_IP_HMAC_KEY must be set to a secret of at least 16 characters/ },
  { variable: 'LOOKOUT_AUDIT_CURSOR_KEY', good: 'cursor-key', read: (c) => c.cursorKey.toString(), expected: 'cursor-key' },
  { variable: 'LOOKOUT_AUDIT_CURSOR_KEY_PREVIOUS', good: 'old-cursor-key', read: (c) => c.previousCursorKey?.toString(), expected: 'old-cursor-key', bad: 'cursor:ip-hmac-key-0123456789', refused: /^LOOKOUT_AUDIT_CURSOR_KEY_PREVIOUS is the same as the current cursor key \(derived from LOOKOUT_AUDIT_IP_HMAC_KEY\)/ },
  { variable: 'LOOKOUT_AUDIT_PGLITE_DIR', good: '/var/lib/audit', read: (c) => c.pgliteDir, expected: '/var/lib/audit' },
  { variable: 'LOOKOUT_AUDIT_MIGRATE', good: 'FALSE', read: (c) => c.migrate, expected: false, bad: '0', refused: /^LOOKOUT_AUDIT_MIGRATE must be true or false, got "0"$/ },
  { variable: 'LOOKOUT_AUDIT_TRUST_PROXY', good: 'True', read: (c) => c.trustProxy, expected: true, bad: '1', refused: /^LOOKOUT_AUDIT_TRUST_PROXY must be true or false, got "1"$/ },
  { variable: 'LOOKOUT_AUDIT_RETENTION_DAYS', good: '30', read: (c) => c.retentionDays, expected: 30, bad: '0', refused: /^LOOKOUT_AUDIT_RETENTION_DAYS must be an integer from 1 to 36500, got "0"$/ },
  { variable: 'LOOKOUT_AUDIT_RETENTION_INTERVAL_S', good: '60', read: (c) => c.retentionIntervalMs, expected: 60_000, bad: '9', refused: /^LOOKOUT_AUDIT_RETENTION_INTERVAL_S must be an integer from 10 to 604800, got "9"$/ },
  { variable: 'LOOKOUT_AUDIT_RETENTION_BATCH', good: '100', read: (c) => c.retentionBatchSize, expected: 100, bad: '1.5', refused: /^LOOKOUT_AUDIT_RETENTION_BATCH must be an integer from 1 to 1000000, got "1.5"$/ },
  { variable: 'LOOKOUT_AUDIT_RATE_LIMIT_RPS', good: '50', read: (c) => c.rateLimitPerSecond, expected: 50, bad: 'fast', refused: /^LOOKOUT_AUDIT_RATE_LIMIT_RPS must be an integer from 1 to 1000000, got "fast"$/ },
  { variable: 'LOOKOUT_AUDIT_RATE_LIMIT_BURST', good: '100', read: (c) => c.rateLimitBurst, expected: 100, bad: '0', refused: /^LOOKOUT_AUDIT_RATE_LIMIT_BURST must be an integer from 1 to 1000000, got "0"$/ },
  { variable: 'LOOKOUT_AUDIT_SSE_HEARTBEAT_MS', good: '500', read: (c) => c.sseHeartbeatMs, expected: 500, bad: '99', refused: /^LOOKOUT_AUDIT_SSE_HEARTBEAT_MS must be an integer from 100 to 300000, got "99"$/ },
  { variable: 'LOOKOUT_AUDIT_SSE_MAX_QUEUED', good: '10', read: (c) => c.sseMaxQueuedEvents, expected: 10, bad: '-1', refused: /^LOOKOUT_AUDIT_SSE_MAX_QUEUED must be an integer from 1 to 1000000, got "-1"$/ },
  { variable: 'LOOKOUT_AUDIT_SYSTEM_TENANT', good: 'ops', read: (c) => c.systemTenant, expected: 'ops' },
  { variable: 'LOOKOUT_AUDIT_DB_POOL_MAX', good: '20', read: (c) => c.poolMax, expected: 20, bad: '201', refused: /^LOOKOUT_AUDIT_DB_POOL_MAX must be an integer from 1 to 200, got "201"$/ },
];

describe('audit API configuration', () => {
  for (const row of rows) {
    it(`${row.variable}: takes "${row.good}"${row.bad === undefined ? ' (any string)' : ` and refuses "${row.bad}" at start`}`, () => {
      const env = (value: string) => ({ ...REQUIRED, ...row.with, [row.variable]: value });
      assert.deepEqual(row.read(loadConfig(env(row.good))), row.expected);
      if (row.bad !== undefined) refuses(() => loadConfig(env(row.bad!)), row.refused!);
    });
  }

  it('reads booleans as the OpenTelemetry spec does: "true"/"false" in any case, unset or empty is the default, anything else refused', () => {
    for (const [value, expected] of [['true', true], ['TRUE', true], ['false', false], ['False', false]] as const) {
      assert.equal(loadConfig({ ...REQUIRED, LOOKOUT_AUDIT_TRUST_PROXY: value }).trustProxy, expected, value);
    }
    assert.equal(loadConfig(REQUIRED).migrate, true, 'unset: migrations run');
    assert.equal(loadConfig({ ...REQUIRED, LOOKOUT_AUDIT_MIGRATE: '' }).migrate, true, 'empty: migrations run');
    assert.equal(loadConfig(REQUIRED).trustProxy, false, 'unset: the proxy header is not trusted');
    for (const value of ['1', '0', 'yes', 'no', 'on']) {
      refuses(() => loadConfig({ ...REQUIRED, LOOKOUT_AUDIT_TRUST_PROXY: value }), new RegExp(`^LOOKOUT_AUDIT_TRUST_PROXY must be true or false, got "${value}"$`));
    }
  });

  it('refuses a previous key equal to the current one (a rotation that forgot the new key), and a previous HS256 secret with a JWKS', () => {
    refuses(() => loadConfig({ ...REQUIRED, LOOKOUT_AUDIT_JWT_SECRET_PREVIOUS: REQUIRED.LOOKOUT_AUDIT_JWT_SECRET }), /^LOOKOUT_AUDIT_JWT_SECRET_PREVIOUS is the same as LOOKOUT_AUDIT_JWT_SECRET: set the new secret as LOOKOUT_AUDIT_JWT_SECRET/);
    refuses(() => loadConfig({ ...REQUIRED, LOOKOUT_AUDIT_CURSOR_KEY: 'k1', LOOKOUT_AUDIT_CURSOR_KEY_PREVIOUS: 'k1' }), /^LOOKOUT_AUDIT_CURSOR_KEY_PREVIOUS is the same as the current cursor key: set the new key as LOOKOUT_AUDIT_CURSOR_KEY/);
    refuses(() => loadConfig({ ...REQUIRED, ...JWKS, LOOKOUT_AUDIT_JWT_SECRET_PREVIOUS: 'p'.repeat(32) }), /^LOOKOUT_AUDIT_JWT_SECRET_PREVIOUS is for HS256 secrets; with LOOKOUT_AUDIT_JWKS_URL, rotate by publishing the new key/);
    const plain = loadConfig(REQUIRED);
    assert.equal(plain.auth.mode === 'hs256' && plain.auth.previousSecret, undefined, 'unset: no previous secret');
    assert.equal(plain.previousCursorKey, undefined, 'unset: no previous cursor key');
    const jwks = loadConfig({ ...REQUIRED, ...JWKS }).auth;
    assert.equal(jwks.mode === 'jwks' && jwks.cooldownMs, 30_000, 'default JWKS cooldown: 30 s');
  });

  it('retention and migrations need DATABASE_URL and nothing else', () => {
    assert.deepEqual(loadRetentionConfig({ DATABASE_URL: 'postgres://db/audit', LOOKOUT_AUDIT_RETENTION_DAYS: '7' }), { databaseUrl: 'postgres://db/audit', retentionDays: 7, retentionBatchSize: 5000 });
    refuses(() => loadRetentionConfig({ DATABASE_URL: 'postgres://db/audit', LOOKOUT_AUDIT_RETENTION_DAYS: '0' }), /^LOOKOUT_AUDIT_RETENTION_DAYS must be an integer/);
    assert.equal(loadDatabaseUrl({ DATABASE_URL: 'postgres://db/audit' }), 'postgres://db/audit');
    refuses(() => loadDatabaseUrl({}), /^DATABASE_URL must be set$/);
    refuses(() => loadRetentionConfig({}), /^DATABASE_URL must be set$/);
  });
});
