// The example services' settings: defaults, and a clear error naming the variable for each bad value.
import assert from 'node:assert/strict';
import { describe, it } from 'mocha';
import { ConfigError, gatewayConfig, runsConfig, trafficConfig, workerConfig } from '../src/config.js';

describe('example service configuration', () => {
  it('starts with working defaults: demo API keys, local URLs, ports 8081–8083', () => {
    const gateway = gatewayConfig({});
    assert.equal(gateway.port, 8081);
    assert.deepEqual(gateway.apiKeys.get('demo-key-acme'), { tenant: 'acme', user: 'alice' });
    assert.equal(runsConfig({}).workerUrl.href, 'http://127.0.0.1:8083/');
    assert.deepEqual(workerConfig({}).workMs, [20, 200]);
    assert.equal(trafficConfig({}).ratePerSecond, 5);
    assert.equal(gatewayConfig({}).faultInjection, false, 'fault injection is opt-in');
  });

  const refuses = (load: () => unknown, message: RegExp) => assert.throws(load, (err: Error) => err instanceof ConfigError && message.test(err.message));

  it('refuses each bad value with a message that names the variable and what would be right', () => {
    refuses(() => gatewayConfig({ PORT: '70000' }), /^PORT="70000" must be a number from 0 to 65535$/);
    refuses(() => gatewayConfig({ RUNS_URL: 'runs:8082' }), /^RUNS_URL="runs:8082" must be an http\(s\) URL$/);
    refuses(() => gatewayConfig({ RUNS_URL: 'not a url' }), /^RUNS_URL="not a url" is not a URL such as http:\/\/127\.0\.0\.1:8082$/);
    refuses(() => gatewayConfig({ API_KEYS: 'key-only' }), /^API_KEYS entry "key-only" must be key:tenant:user/);
    refuses(() => gatewayConfig({ API_KEYS: 'k:Tenant A:u' }), /^API_KEYS entry "k:Tenant A:u"/);
    refuses(() => gatewayConfig({ API_KEYS: ' , ' }), /^API_KEYS names no key$/);
    refuses(() => runsConfig({ LOOKOUT_AUDIT_JWT_SECRET: 'short' }), /at least 32 characters/);
    refuses(() => workerConfig({ WORKER_WORK_MS: '200-20' }), /^WORKER_WORK_MS="200-20" must be a range of milliseconds such as 20-200$/);
    refuses(() => workerConfig({ WORKER_FAILURE_RATIO: '1.5' }), /^WORKER_FAILURE_RATIO="1.5" must be a number from 0 to 1$/);
    refuses(() => workerConfig({ WORKER_CONCURRENCY: '2.5' }), /^WORKER_CONCURRENCY="2.5" must be a whole number$/);
    refuses(() => trafficConfig({ TRAFFIC_RPS: '0' }), /^TRAFFIC_RPS="0" must be a number from 0.1 to 1000$/);
    refuses(() => gatewayConfig({ FAULT_INJECTION: 'yes' }), /^FAULT_INJECTION="yes" must be true or false$/);
  });
});
