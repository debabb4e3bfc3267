// Loggers an app builds with winston itself, with the agent preloaded: each line correlated with its span
// and request, and sent as an OTLP log record exactly as upstream's instrumentation would send it
// (LOOKOUT_UPSTREAM_INSTRUMENTATIONS=winston), while the app's own lines stay what they were.
import assert from 'node:assert/strict';
import { OtlpReceiver, type ReceivedLog, type RunningApp, spawnNode } from '@lookout/testkit';
import { AGENT_DIR, APPS_DIR, spawnApp } from './fixtures/spawn-app.js';

describe("an app's own winston logger", function () {
  this.timeout(60_000);
  const receiver = new OtlpReceiver();
  let ours: RunningApp;
  let upstream: RunningApp;
  let plain: RunningApp;

  before(async () => {
    await receiver.start();
    const env = { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint };
    [ours, upstream, plain] = await Promise.all([
      spawnApp('winston-app.mjs', { env: { ...env, OTEL_SERVICE_NAME: 'winston-ours' } }),
      spawnApp('winston-app.mjs', { env: { ...env, OTEL_SERVICE_NAME: 'winston-upstream', LOOKOUT_UPSTREAM_INSTRUMENTATIONS: 'winston' } }),
      spawnApp('winston-app.mjs', { agent: false }),
    ]);
  });

  after(async () => {
    await Promise.all([ours?.stop(), upstream?.stop(), plain?.stop()]);
    await receiver.stop();
  });

  const recordsOf = (service: string, tag: string) => receiver.logs.filter((l) => l.resource['service.name'] === service && l.attributes.tag === tag || (l.resource['service.name'] === service && l.body === `warned ${tag}`));
  async function logThrough(app: RunningApp, service: string, tag: string): Promise<ReceivedLog[]> {
    assert.equal((await fetch(`${app.url}/log?tag=${tag}`, { headers: { 'x-request-id': `req-${tag}` } })).status, 200);
    return receiver.waitFor(`4 records from ${service}`, () => {
      const got = recordsOf(service, tag);
      return got.length >= 4 ? got : undefined;
    });
  }

  it('sends each line the logger writes as a record tied to the server span, and nothing the logger drops', async () => {
    const records = await logThrough(ours, 'winston-ours', 'a');
    const span = await receiver.waitFor('the server span', () => receiver.spans.find((s) => s.resource['service.name'] === 'winston-ours' && s.attributes.request_id === 'req-a'));
    assert.deepEqual(records.map((r) => r.body).sort(), ['failed', 'from a child', 'handled', 'warned a']);
    for (const record of records) {
      assert.equal(record.traceId, span.traceId);
      assert.equal(record.spanId, span.spanId);
      assert.equal(record.attributes.request_id, 'req-a');
      assert.equal(record.attributes.trace_id, undefined, 'correlation fields are the record’s ids, not attributes');
    }
    const handled = records.find((r) => r.body === 'handled')!;
    assert.equal(handled.severityText, 'info');
    assert.equal(handled.severityNumber, 'SEVERITY_NUMBER_INFO');
    assert.equal(handled.attributes.count, 3);
    assert.deepEqual(handled.attributes.nested, { ok: true });
    assert.equal(handled.attributes.api_key, '[REDACTED]');
    const failed = records.find((r) => r.body === 'failed')!;
    assert.equal(failed.severityNumber, 'SEVERITY_NUMBER_ERROR');
    assert.equal(failed.attributes['exception.type'], 'TypeError');
    assert.equal(failed.attributes['exception.message'], 'bad input');
    assert.equal(records.find((r) => r.body === 'from a child')!.attributes.component, 'child');
  });

  it('puts trace_id, span_id and request_id on the stdout line and redacts its secrets, and otherwise writes what the app writes without the agent', async () => {
    await logThrough(ours, 'winston-ours', 'b');
    const line = await ours.waitForLine((l) => l.message === 'handled' && l.tag === 'b');
    assert.match(String(line.trace_id), /^[0-9a-f]{32}$/);
    assert.match(String(line.span_id), /^[0-9a-f]{16}$/);
    assert.equal(line.trace_flags, '01');
    assert.equal(line.request_id, 'req-b');
    assert.equal(line.api_key, '[REDACTED]', 'stdout is shipped too (container platforms send it to Loki)');

    assert.equal((await fetch(`${plain.url}/log?tag=b`)).status, 200);
    const plainLine = await plain.waitForLine((l) => l.message === 'handled' && l.tag === 'b');
    assert.equal(plainLine.api_key, 'k-secret-1');
    const strip = (l: Record<string, unknown>) => {
      const { trace_id: _t, span_id: _s, trace_flags: _f, request_id: _r, timestamp: _ts, api_key: _k, ...rest } = l;
      return rest;
    };
    assert.deepEqual(strip(line), strip(plainLine));
    const messages = (app: RunningApp) => app.lines.filter((l): l is Record<string, unknown> => typeof l === 'object' && l.tag === 'b' || (typeof l === 'object' && l.message === 'warned b')).map((l) => l.message);
    assert.deepEqual(messages(ours), messages(plain), 'the same lines, nothing added or dropped');
  });

  it('redacts the stdout line under the upstream instrumentation too', async () => {
    await logThrough(upstream, 'winston-upstream', 'u');
    const line = await upstream.waitForLine((l) => l.message === 'handled' && l.tag === 'u');
    assert.equal(line.api_key, '[REDACTED]');
    assert.equal(line.order_id, 'o-1');
  });

  it('sends the same records as the upstream instrumentation', async () => {
    const [mine, theirs] = await Promise.all([logThrough(ours, 'winston-ours', 'c'), logThrough(upstream, 'winston-upstream', 'c')]);
    const shape = (r: ReceivedLog) => {
      const { trace_id: _t, span_id: _s, trace_flags: _f, timestamp: _ts, ...attributes } = r.attributes;
      delete attributes['exception.stacktrace'];
      return { body: r.body, severityText: r.severityText, severityNumber: r.severityNumber, attributes, correlated: r.traceId !== '' && r.spanId !== '' };
    };
    const sorted = (rs: ReceivedLog[]) => rs.map(shape).sort((a, b) => String(a.body).localeCompare(String(b.body)));
    assert.deepEqual(sorted(mine), sorted(theirs));
  });
});

describe("an app's own winston logger on the Console, given secrets and personal data", function () {
  this.timeout(60_000);
  // What the fixture logs and sets on its span; none of it may leave the process.
  const LEAKS = /hunter2|jane@example\.com|415 555 0132|555-0132|7946 0958|078-05-1120/;
  const ISO_TIMESTAMP = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
  const receiver = new OtlpReceiver();
  let app: RunningApp;
  let withArgs: RunningApp;

  // With a secret on its command line, as services are often given them.
  const start = (env: Record<string, string>) =>
    spawnNode(['--import', '@lookout/agent/register', `${APPS_DIR}winston-console-app.mjs`, '--db-password=hunter2'], {
      cwd: AGENT_DIR,
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, ...env },
      name: 'winston-console-app.mjs',
      port: (line) => (typeof line.listening === 'number' ? line.listening : undefined),
    });

  before(async () => {
    await receiver.start();
    [app, withArgs] = await Promise.all([
      start({ OTEL_SERVICE_NAME: 'winston-pii' }),
      start({ OTEL_SERVICE_NAME: 'winston-pii-args', LOOKOUT_RESOURCE_COMMAND_ARGS: 'true' }),
    ]);
  });

  after(async () => {
    await Promise.all([app?.stop(), withArgs?.stop()]);
    await receiver.stop();
  });

  async function signUp(target: RunningApp, tag: string): Promise<Record<string, unknown>> {
    const res = await fetch(`${target.url}/signup?tag=${tag}`, { headers: { 'x-request-id': `req-${tag}` } });
    assert.equal(res.status, 200);
    return (await res.json()) as Record<string, unknown>;
  }

  it('writes no secret, e-mail address, phone number or SSN to stdout, and keeps ids and timestamps', async () => {
    await signUp(app, 's1');
    const line = await app.waitForLine((l) => l.message === 'signed up' && l.tag === 's1');
    assert.equal(line.password, '[REDACTED]');
    assert.equal(line.contact, '[REDACTED]');
    assert.equal(line.phone, '[REDACTED]');
    assert.equal(line.order_id, '2024-000123');
    assert.deepEqual(line.profile, { ssn: '[REDACTED]', note: 'or call [REDACTED]', since: '2026-11-29T10:00:00.123Z' });
    assert.match(String(line.timestamp), ISO_TIMESTAMP);
    assert.match(String(line.trace_id), /^[0-9a-f]{32}$/);
    assert.match(String(line.span_id), /^[0-9a-f]{16}$/);
    assert.equal(line.request_id, 'req-s1');

    const own = await app.waitForLine((l) => l.message === 'own object' && l.tag === 's1');
    assert.equal(own.password, '[REDACTED]');
    assert.equal(own.contact, '[REDACTED]');
    await app.waitForLine((l) => l.message === 'welcome mail sent to [REDACTED]' && l.tag === 's1');
    await app.waitForLine((l) => l.message === 'signup failed' && l.tag === 's1');
    assert.doesNotMatch(JSON.stringify(app.lines), LEAKS);
  });

  it('sends the same lines as OTLP records without them, tied to the span, with ids and timestamps', async () => {
    await signUp(app, 's2');
    const records = await receiver.waitFor('the four records', () => {
      const got = receiver.logs.filter((l) => l.resource['service.name'] === 'winston-pii' && l.attributes.tag === 's2');
      return got.length >= 4 ? got : undefined;
    });
    assert.doesNotMatch(JSON.stringify(records), LEAKS);
    const span = await receiver.waitFor('the server span', () => receiver.spans.find((s) => s.resource['service.name'] === 'winston-pii' && s.attributes.request_id === 'req-s2'));
    const signed = records.find((r) => r.body === 'signed up')!;
    assert.equal(signed.traceId, span.traceId);
    assert.equal(signed.attributes.request_id, 'req-s2');
    assert.equal(signed.attributes.order_id, '2024-000123');
    assert.equal(signed.attributes.contact, '[REDACTED]');
    assert.match(String(signed.attributes.timestamp), ISO_TIMESTAMP);
    assert.equal(records.find((r) => r.body === 'welcome mail sent to [REDACTED]')?.attributes.request_id, 'req-s2');
    const failed = records.find((r) => r.body === 'signup failed')!;
    assert.equal(failed.attributes['exception.message'], 'duplicate contact [REDACTED]');
    assert.match(String(failed.attributes['exception.stacktrace']), /^Error: duplicate contact \[REDACTED\]\n    at /);
  });

  it('redacts what the app puts on its span, in attributes and exception events', async () => {
    await signUp(app, 's3');
    const span = await receiver.waitFor('the server span', () => receiver.spans.find((s) => s.resource['service.name'] === 'winston-pii' && s.attributes.request_id === 'req-s3'));
    assert.equal(span.attributes['customer.contact'], '[REDACTED], [REDACTED]');
    assert.equal(span.events.find((e) => e.name === 'exception')?.attributes['exception.message'], 'no account for [REDACTED]');
    assert.doesNotMatch(JSON.stringify(span), LEAKS);
  });

  it('leaves the objects the app logged as it built them: redacted and correlated copies go to the formats', async () => {
    const held = await signUp(app, 's4');
    assert.deepEqual(held, {
      signup: {
        tag: 's4',
        password: 'hunter2',
        contact: 'jane@example.com',
        phone: '+1 415 555 0132',
        order_id: '2024-000123',
        profile: { ssn: '078-05-1120', note: 'or call (415) 555-0132', since: '2026-11-29T10:00:00.123Z' },
      },
      // winston itself sets the level on an object logged alone; without the agent its formats then write
      // into it too (the timestamp here).
      own: { message: 'own object', tag: 's4', password: 'hunter2', contact: 'jane@example.com', level: 'info' },
    });
  });

  it('sends no command line on the resource unless LOOKOUT_RESOURCE_COMMAND_ARGS=true, and then with secret flags redacted', async () => {
    await Promise.all([signUp(app, 's5'), signUp(withArgs, 's5')]);
    const resourceOf = (service: string) =>
      receiver.waitFor(`a span of ${service}`, () => receiver.spans.find((s) => s.resource['service.name'] === service)?.resource);
    const [without, asked] = await Promise.all([resourceOf('winston-pii'), resourceOf('winston-pii-args')]);
    assert.equal(without['process.command_args'], undefined);
    assert.match(String(without['process.command']), /winston-console-app\.mjs$/);
    assert.equal(without['process.pid'], app.child.pid);
    const args = asked['process.command_args'] as string[];
    assert.ok(Array.isArray(args), JSON.stringify(asked));
    assert.equal(args.at(-1), '--db-password=[REDACTED]');
    assert.ok(args.includes('@lookout/agent/register'), args.join(' '));
    assert.doesNotMatch(JSON.stringify(asked), /hunter2/);
  });
});
