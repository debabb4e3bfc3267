// The example services' settings: defaults, and a clear error naming the variable for each bad value.
import assert from 'node:assert/strict';
import { describe, it } from 'mocha';
import { alertWebhookConfig, ConfigError, gatewayConfig, runsConfig, trafficConfig, workerConfig, type Warn } from '../src/config.js';

describe('example service configuration', () => {
  const quiet: Warn = () => undefined;
  it('starts with working defaults: demo API keys, local URLs, ports 8081–8083', () => {
    const gateway = gatewayConfig(quiet, {});
    assert.equal(gateway.port, 8081);
    assert.deepEqual(gateway.apiKeys.get('demo-key-acme'), { tenant: 'acme', user: 'alice' });
    assert.equal(runsConfig(quiet, {}).workerUrl.href, 'http://127.0.0.1:8083/');
    assert.deepEqual(workerConfig(quiet, {}).workMs, [20, 200]);
    assert.equal(trafficConfig({}).ratePerSecond, 5);
    assert.equal(gatewayConfig(quiet, {}).faultInjection, false, 'fault injection is opt-in');
    assert.deepEqual([gateway.rateLimitPerSecond, gateway.rateLimitBurst, gateway.acceptedEveryMs, gateway.refusedEveryMs, gateway.systemTenant], [50, 100, 900_000, 60_000, '_system']);
    assert.equal(gateway.apiKeyHmacKey, undefined, 'no key to name API keys by without API_KEY_HMAC_KEY or the audit secret');
  });

  it('names API keys under API_KEY_HMAC_KEY, or else a key derived from the audit secret, never the secret itself', () => {
    const secret = 's'.repeat(32);
    const derived = gatewayConfig(quiet, { LOOKOUT_AUDIT_JWT_SECRET: secret }).apiKeyHmacKey!;
    assert.equal(derived.length, 32);
    assert.notEqual(derived.toString(), secret);
    assert.deepEqual(gatewayConfig(quiet, { LOOKOUT_AUDIT_JWT_SECRET: secret }).apiKeyHmacKey, derived, 'the same on every replica');
    assert.equal(gatewayConfig(quiet, { LOOKOUT_AUDIT_JWT_SECRET: secret, API_KEY_HMAC_KEY: 'k'.repeat(20) }).apiKeyHmacKey!.toString(), 'k'.repeat(20));
    assert.equal(workerConfig(quiet, { LOOKOUT_AUDIT_JWT_SECRET: secret }).auditJwtSecret, secret);
    refuses(() => gatewayConfig(quiet, { LOOKOUT_AUDIT_JWT_SECRET: 'short' }), /^LOOKOUT_AUDIT_JWT_SECRET must be at least 32 characters/);
    refuses(() => workerConfig(quiet, { LOOKOUT_AUDIT_JWT_SECRET: 'short' }), /^LOOKOUT_AUDIT_JWT_SECRET must be at least 32 characters/);
  });

  const refuses = (load: () => unknown, message: RegExp) => assert.throws(load, (err: Error) => err instanceof ConfigError && message.test(err.message));

  it('refuses each bad value with a message that names the variable and what would be right', () => {
    refuses(() => gatewayConfig(quiet, { PORT: '70000' }), /^PORT="70000" must be a number from 0 to 65535$/);
    refuses(() => gatewayConfig(quiet, { RUNS_URL: 'runs:8082' }), /^RUNS_URL="runs:8082" must be an http\(s\) URL$/);
    refuses(() => gatewayConfig(quiet, { RUNS_URL: 'not a url' }), /^RUNS_URL="not a url" is not a URL such as http:\/\/127\.0\.0\.1:8082$/);
    refuses(() => gatewayConfig(quiet, { API_KEYS: 'key-only' }), /^API_KEYS entry "key-only" must be key:tenant:user/);
    refuses(() => gatewayConfig(quiet, { API_KEYS: 'k:Tenant A:u' }), /^API_KEYS entry "k:Tenant A:u"/);
    refuses(() => gatewayConfig(quiet, { API_KEYS: ' , ' }), /^API_KEYS names no key$/);
    refuses(() => runsConfig(quiet, { LOOKOUT_AUDIT_JWT_SECRET: 'short' }), /at least 32 characters/);
    refuses(() => workerConfig(quiet, { WORKER_WORK_MS: '200-20' }), /^WORKER_WORK_MS="200-20" must be a range of milliseconds such as 20-200$/);
    refuses(() => workerConfig(quiet, { WORKER_FAILURE_RATIO: '1.5' }), /^WORKER_FAILURE_RATIO="1.5" must be a number from 0 to 1$/);
    refuses(() => workerConfig(quiet, { WORKER_CONCURRENCY: '2.5' }), /^WORKER_CONCURRENCY="2.5" must be a whole number$/);
    refuses(() => trafficConfig({ TRAFFIC_RPS: '0' }), /^TRAFFIC_RPS="0" must be a number from 0.1 to 1000$/);
  });

  it('reads FAULT_INJECTION as the OpenTelemetry spec reads a boolean: only "true" (any case) is true; 1, 0 or yes warn and are false', () => {
    const read = (value: string | undefined) => {
      const warnings: string[] = [];
      const { faultInjection } = gatewayConfig((message) => warnings.push(message), { FAULT_INJECTION: value });
      return { faultInjection, warnings };
    };
    for (const value of ['true', 'TRUE', 'True']) assert.deepEqual(read(value), { faultInjection: true, warnings: [] }, value);
    for (const value of ['false', 'FALSE', '', undefined]) assert.deepEqual(read(value), { faultInjection: false, warnings: [] }, String(value));
    for (const value of ['1', '0', 'yes']) {
      assert.deepEqual(read(value), { faultInjection: false, warnings: [`FAULT_INJECTION="${value}" is not "true" or "false"; the default false is used`] }, value);
    }
  });

  // Every variable the example services read, each with a value taken and a value refused (or, for a boolean,
  // warned about and replaced by the default), through the service config that reads it.
  type Row = { variable: string; value: (env: Record<string, string>) => unknown; good: string; expected: unknown; bad?: string; refused?: RegExp };
  const gateway = (env: Record<string, string>) => gatewayConfig(quiet, env);
  const runs = (env: Record<string, string>) => runsConfig(quiet, env);
  const worker = (env: Record<string, string>) => workerConfig(quiet, env);
  const rows: Row[] = [
    { variable: 'HOST', value: (env) => gateway(env).host, good: '127.0.0.1', expected: '127.0.0.1' /* any string is an address to try */ },
    { variable: 'PORT', value: (env) => alertWebhookConfig(quiet, env).port, good: '0', expected: 0, bad: '-1', refused: /^PORT="-1" must be a number from 0 to 65535$/ },
    { variable: 'RUNS_URL', value: (env) => worker(env).runsUrl.href, good: 'http://runs:8082', expected: 'http://runs:8082/', bad: 'ftp://runs', refused: /^RUNS_URL="ftp:\/\/runs" must be an http\(s\) URL$/ },
    { variable: 'API_KEYS', value: (env) => [...gateway(env).apiKeys.keys()], good: 'k1:t1:u1', expected: ['k1'], bad: 'k1:t1', refused: /^API_KEYS entry "k1:t1" must be key:tenant:user/ },
    { variable: 'UPSTREAM_TIMEOUT_MS', value: (env) => gateway(env).upstreamTimeoutMs, good: '2500', expected: 2500, bad: '0', refused: /^UPSTREAM_TIMEOUT_MS="0" must be a number from 1 to/ },
    { variable: 'LOOKOUT_AUDIT_JWT_SECRET', value: (env) => runs(env).auditJwtSecret, good: 'x'.repeat(32), expected: 'x'.repeat(32), bad: 'x'.repeat(31), refused: /^LOOKOUT_AUDIT_JWT_SECRET must be at least 32 characters/ },
    { variable: 'DATABASE_URL', value: (env) => runs(env).databaseUrl, good: 'postgres://db/runs', expected: 'postgres://db/runs' /* passed to pg as it is, which names it when it fails */ },
    { variable: 'WORKER_URL', value: (env) => runs(env).workerUrl.href, good: 'https://worker', expected: 'https://worker/', bad: 'worker', refused: /^WORKER_URL="worker" is not a URL such as http:\/\/127\.0\.0\.1:8083$/ },
    { variable: 'WORKER_WORK_MS', value: (env) => worker(env).workMs, good: '5-5', expected: [5, 5], bad: '5', refused: /^WORKER_WORK_MS="5" must be a range of milliseconds such as 20-200$/ },
    { variable: 'WORKER_CONCURRENCY', value: (env) => worker(env).concurrency, good: '8', expected: 8, bad: '0', refused: /^WORKER_CONCURRENCY="0" must be a number from 1 to/ },
    { variable: 'WORKER_MAX_QUEUED', value: (env) => worker(env).maxQueued, good: '10', expected: 10, bad: 'many', refused: /^WORKER_MAX_QUEUED="many" must be a number from 1 to/ },
    { variable: 'WORKER_FAILURE_RATIO', value: (env) => worker(env).failureRatio, good: '0.5', expected: 0.5, bad: '-0.1', refused: /^WORKER_FAILURE_RATIO="-0.1" must be a number from 0 to 1$/ },
    { variable: 'GATEWAY_URL', value: (env) => trafficConfig(env).gatewayUrl.href, good: 'http://gw:1', expected: 'http://gw:1/', bad: 'gw', refused: /^GATEWAY_URL="gw" is not a URL/ },
    { variable: 'TRAFFIC_RPS', value: (env) => trafficConfig(env).ratePerSecond, good: '0.5', expected: 0.5, bad: '1001', refused: /^TRAFFIC_RPS="1001" must be a number from 0.1 to 1000$/ },
    { variable: 'FAULT_INJECTION', value: (env) => gateway(env).faultInjection, good: 'true', expected: true /* a bad value warns: the test above */ },
    { variable: 'API_KEY_HMAC_KEY', value: (env) => gateway(env).apiKeyHmacKey?.toString(), good: 'k'.repeat(16), expected: 'k'.repeat(16), bad: 'short', refused: /^API_KEY_HMAC_KEY must be a secret of at least 16 characters/ },
    { variable: 'GATEWAY_RATE_LIMIT_RPS', value: (env) => gateway(env).rateLimitPerSecond, good: '0.5', expected: 0.5, bad: '0', refused: /^GATEWAY_RATE_LIMIT_RPS="0" must be a number from 0.01 to/ },
    { variable: 'GATEWAY_RATE_LIMIT_BURST', value: (env) => gateway(env).rateLimitBurst, good: '5', expected: 5, bad: '1.5', refused: /^GATEWAY_RATE_LIMIT_BURST="1.5" must be a whole number$/ },
    { variable: 'GATEWAY_AUDIT_ACCEPTED_INTERVAL_S', value: (env) => gateway(env).acceptedEveryMs, good: '60', expected: 60_000, bad: '-1', refused: /^GATEWAY_AUDIT_ACCEPTED_INTERVAL_S="-1" must be a number from 0 to 86400$/ },
    { variable: 'GATEWAY_AUDIT_REFUSED_INTERVAL_S', value: (env) => gateway(env).refusedEveryMs, good: '0', expected: 0, bad: 'often', refused: /^GATEWAY_AUDIT_REFUSED_INTERVAL_S="often" must be a number from 0 to 86400$/ },
    { variable: 'LOOKOUT_AUDIT_SYSTEM_TENANT', value: (env) => gateway(env).systemTenant, good: 'ops', expected: 'ops' },
    { variable: 'LOOKOUT_AUDIT_URL', value: (env) => worker(env).auditUrl?.href, good: 'http://audit-api:8080', expected: 'http://audit-api:8080/' /* the audit client reports a bad one */ },
  ];
  for (const row of rows) {
    it(`${row.variable}: takes ${row.good}${row.bad === undefined ? '' : ` and refuses ${row.bad}`}`, () => {
      assert.deepEqual(row.value({ [row.variable]: row.good }), row.expected);
      if (row.bad !== undefined) refuses(() => row.value({ [row.variable]: row.bad! }), row.refused!);
    });
  }
});
