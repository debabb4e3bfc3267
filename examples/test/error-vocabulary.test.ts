// One error vocabulary across services: the audit API and every example service answer the same failure
// (bad JSON, an oversized body, an unknown route, a wrong method) with the same status and the same code,
// in the same { "error": { "code", "message" } } envelope.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'mocha';
import { call, type ExampleSystem, OtlpReceiver, type Reply, type RunningApp, startExampleSystem, token } from '@lookout/testkit';

interface Service {
  name: string;
  app: () => RunningApp;
  /** A route that takes a JSON body, and the headers that get a request past its checks. */
  post: string;
  headers: () => Promise<Record<string, string>>;
  /** A path that exists, and a method it does not take. */
  wrongMethod: [method: string, path: string];
}

describe('every service answers the same failure with the same status and code', function () {
  this.timeout(30_000);
  let receiver: OtlpReceiver;
  let system: ExampleSystem;

  const services: Service[] = [
    { name: 'audit-api', app: () => system.auditApi, post: '/api/v1/activity', headers: async () => ({ authorization: `Bearer ${await token({ tenant: 'acme', scope: 'activity:write' })}` }), wrongMethod: ['DELETE', '/api/v1/activity'] },
    { name: 'gateway', app: () => system.gateway, post: '/api/workflows/nightly-report/runs', headers: async () => ({ 'x-api-key': 'demo-key-acme' }), wrongMethod: ['DELETE', '/api/runs'] },
    { name: 'runs', app: () => system.runs, post: '/workflows/nightly-report/runs', headers: async () => ({ 'x-tenant-id': 'acme' }), wrongMethod: ['DELETE', '/runs'] },
    { name: 'worker', app: () => system.worker, post: '/jobs', headers: async () => ({}), wrongMethod: ['GET', '/jobs'] },
  ];

  before(async function () {
    this.timeout(90_000);
    receiver = new OtlpReceiver();
    await receiver.start();
    system = await startExampleSystem({ otlpEndpoint: receiver.endpoint, worker: { WORKER_WORK_MS: '5-20', WORKER_FAILURE_RATIO: '0' } });
  });

  after(async () => {
    await system?.stop();
    await receiver?.stop();
  });

  // Every service's jsonLimit is at most 64kb.
  const failures: [string, (s: Service) => Promise<Reply>, number, string][] = [
    ['bad JSON', async (s) => call(s.app().url, 'POST', s.post, { headers: { ...(await s.headers()), 'content-type': 'application/json' }, raw: '{"action":' }), 400, 'invalid_json'],
    ['an oversized body', async (s) => call(s.app().url, 'POST', s.post, { headers: await s.headers(), body: { padding: 'x'.repeat(200_000) } }), 413, 'payload_too_large'],
    ['an unknown route', async (s) => call(s.app().url, 'GET', '/nowhere', { headers: await s.headers() }), 404, 'not_found'],
    ['a wrong method', async (s) => call(s.app().url, s.wrongMethod[0], s.wrongMethod[1], { headers: await s.headers() }), 405, 'method_not_allowed'],
  ];

  for (const [failure, send, status, code] of failures) {
    it(`answers ${failure} with ${status} ${code} from every service`, async () => {
      const answers: Record<string, [number, unknown, string]> = {};
      for (const service of services) {
        const reply = await send(service);
        answers[service.name] = [reply.status, reply.body?.error?.code, typeof reply.body?.error?.message];
      }
      assert.deepEqual(answers, Object.fromEntries(services.map((s) => [s.name, [status, code, 'string']])));
    });
  }
});
